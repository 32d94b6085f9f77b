//go:build race

package wsman

// Race builds (go test -race, as CI runs) poison the stream buffers
// ReceiveResult.Release recycles, so that a consumer that keeps Data past
// Release fails its tests.
func init() { poisonReleased = true }
