package clixml

import "reflect"

// SKELETON (owned by the reflection work): the bridge between Go values and
// the lossless model. Bodies are replaced.

// toModel converts a Go value that is not already a model type into the
// lossless model (structs, maps, slices, Marshalers, named types...).
func toModel(v reflect.Value) (any, error) { return nil, errSkeleton }

// fromModel stores the model value m into dst (a settable reflect.Value).
func fromModel(m any, dst reflect.Value) error { return errSkeleton }
