package clixml

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Bounds of String for objects it has to compose (property bags): how deep
// it looks into nested objects, which Refs can make cyclic, and how much it
// writes, since Refs can also share one object many times over.
const (
	toStringDepth = 4
	toStringMax   = 16 << 10
)

// String returns the object's string form as PowerShell gives it, so that
// fmt.Println of a deserialized service's Status prints Running: the
// <ToString> the sender wrote (PowerShell serializes every object's
// ToString()); for an object without one, the primitive it wraps, a
// property bag as "@{Name=value; …}" (how PowerShell shows a PSCustomObject
// in a string; at most 16 KiB, nested four deep), or its most specific type
// name without the "Deserialized." prefix (.NET's Object.ToString). A nil
// object is the empty string.
func (o *Object) String() string {
	if o != nil && o.HasToString {
		return o.ToString // the common case, without a copy
	}
	w := toStringWriter{}
	w.object(o, 0)
	return w.b.String()
}

// toStringWriter composes String's result within toStringMax bytes.
type toStringWriter struct {
	b    strings.Builder
	full bool
}

func (w *toStringWriter) write(s string) {
	if w.full {
		return
	}
	if w.b.Len()+len(s) > toStringMax {
		n := max(0, toStringMax-w.b.Len())
		for n > 0 && !utf8.RuneStart(s[n]) {
			n-- // cut between characters
		}
		w.b.WriteString(s[:n])
		w.b.WriteString("…")
		w.full = true
		return
	}
	w.b.WriteString(s)
}

func (w *toStringWriter) object(o *Object, depth int) {
	switch {
	case o == nil:
	case o.HasToString:
		w.write(o.ToString)
	case o.Value != nil:
		w.value(o.Value, depth+1)
	case o.Kind == NotContainer && len(o.Members)+len(o.Props) > 0 && o.isPropertyBag():
		if depth >= toStringDepth {
			w.write("@{…}")
			return
		}
		w.write("@{")
		first := true
		for _, set := range [2][]Property{o.Members, o.Props} {
			for _, p := range set {
				if w.full {
					return
				}
				if !first {
					w.write("; ")
				}
				first = false
				w.write(p.Name)
				w.write("=")
				w.value(p.Value, depth+1)
			}
		}
		w.write("}")
	case len(o.TypeNames) > 0:
		w.write(strings.TrimPrefix(o.TypeNames[0], "Deserialized."))
	case o.Kind == List:
		w.write("System.Object[]")
	case o.Kind == Dictionary:
		w.write("System.Collections.Hashtable")
	default:
		w.write("System.Object")
	}
}

// isPropertyBag reports whether the object is a PSCustomObject (or has no
// type at all), which PowerShell shows by its properties.
func (o *Object) isPropertyBag() bool {
	if len(o.TypeNames) == 0 {
		return true
	}
	t := strings.TrimPrefix(o.TypeNames[0], "Deserialized.")
	return t == "System.Management.Automation.PSCustomObject"
}

// value formats a value of the lossless model as PowerShell's ToString
// would: True and False for booleans, a Char as its character, nested
// objects as String does.
func (w *toStringWriter) value(v any, depth int) {
	switch x := v.(type) {
	case nil:
	case *Object:
		if depth > toStringDepth && x != nil && !x.HasToString {
			w.write("…")
			return
		}
		w.object(x, depth)
	case string:
		w.write(x)
	case bool:
		if x {
			w.write("True")
		} else {
			w.write("False")
		}
	case Char:
		w.write(string(utf16.Decode([]uint16{uint16(x)})))
	case float32:
		w.write(strconv.FormatFloat(float64(x), 'G', -1, 32))
	case float64:
		w.write(strconv.FormatFloat(x, 'G', -1, 64))
	case Decimal:
		w.write(string(x))
	case DateTime:
		w.write(x.Time.String())
	case TimeSpan:
		w.write(x.Duration().String())
	case Version:
		w.write(strconv.Itoa(int(x.Major)) + "." + strconv.Itoa(int(x.Minor)))
		for _, n := range []int32{x.Build, x.Revision} {
			if n < 0 {
				break
			}
			w.write("." + strconv.Itoa(int(n)))
		}
	case []byte:
		w.write("System.Byte[]")
	default:
		w.write(fmt.Sprint(v))
	}
}
