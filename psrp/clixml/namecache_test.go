package clixml

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestNameCache(t *testing.T) {
	c := &nameCache{seed: maphash.MakeSeed()}
	buf := []byte("Index")
	s1, ok := c.get(buf)
	if !ok || s1 != "Index" {
		t.Fatalf("get = %q, %v", s1, ok)
	}
	buf[0] = 'X' // the cached string must not alias the input
	if s1 != "Index" {
		t.Fatalf("cached string changed with its input: %q", s1)
	}
	s2, _ := c.get([]byte("Index"))
	if s2 != "Index" || strings.Clone(s2) != s1 {
		t.Fatalf("second get = %q", s2)
	}
	if _, ok := c.get(nil); ok {
		t.Error("empty name cached")
	}
	if _, ok := c.get(make([]byte, maxCachedName+1)); ok {
		t.Error("over-long name cached")
	}
	// More names than slots, from several goroutines: every answer is
	// the name asked for.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 4 * nameCacheSlots {
				name := fmt.Sprintf("Prop%d", (i*7+g)%(2*nameCacheSlots))
				if got, _ := c.get([]byte(name)); got != name {
					t.Errorf("get(%q) = %q", name, got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestTypeNameCache(t *testing.T) {
	c := &typeNameCache{seed: maphash.MakeSeed()}
	scratch := []string{"Deserialized.X", "System.Object"}
	a := c.get(scratch)
	scratch[0] = "changed" // the decoder reuses its stack
	if !slices.Equal(a, []string{"Deserialized.X", "System.Object"}) {
		t.Fatalf("get kept the caller's slice: %q", a)
	}
	b := c.get([]string{"Deserialized.X", "System.Object"})
	if &a[0] != &b[0] {
		t.Error("equal lists are not shared")
	}
	x, y := c.get([]string{"ab", "c"}), c.get([]string{"a", "bc"})
	if !slices.Equal(x, []string{"ab", "c"}) || !slices.Equal(y, []string{"a", "bc"}) {
		t.Errorf("lists that join alike were confused: %q %q", x, y)
	}
	if got := c.get([]string{}); got == nil || len(got) != 0 {
		t.Errorf("empty list = %#v, want empty and non-nil", got)
	}
	long := make([]string, maxCachedTypeNames+1)
	if got := c.get(long); &got[0] == &long[0] {
		t.Error("an uncached list aliases the input")
	}
}

// TestDecodeSharesTypeNames checks the effect on decoding: two messages
// with the same <TN> yield one shared list with the right names.
func TestDecodeSharesTypeNames(t *testing.T) {
	msg := []byte(`<Obj RefId="0"><TN RefId="0"><T>My.Type</T><T>System.Object</T></TN><MS><I32 N="Index">1</I32></MS></Obj>`)
	// Parallel tests share the cache and may take the slot in between,
	// so a few tries are allowed.
	shared := false
	for range 5 {
		v1, err := UnmarshalOptions{}.Decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := UnmarshalOptions{}.Decode(msg)
		if err != nil {
			t.Fatal(err)
		}
		o1, o2 := v1.(*Object), v2.(*Object)
		if !slices.Equal(o1.TypeNames, []string{"My.Type", "System.Object"}) || !slices.Equal(o2.TypeNames, o1.TypeNames) {
			t.Fatalf("TypeNames = %q, %q", o1.TypeNames, o2.TypeNames)
		}
		if &o1.TypeNames[0] == &o2.TypeNames[0] {
			shared = true
			break
		}
	}
	if !shared {
		t.Error("equal type-name lists of two values are not shared")
	}
}
