package clixml

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync/atomic"
)

// nameCache shares the strings of property and type names across Decode
// calls: a stream of PSRP messages decodes each object on its own, and
// without the cache every message copied the same few names again. It is
// a fixed table of slots addressed by a hash of the name; a slot holds the
// last name stored there, so the cache is bounded, needs no lock and at
// worst misses. The strings are copies, never views of an input.
// A name lives in one of two neighbouring slots.
type nameCache struct {
	seed  maphash.Seed
	slots [nameCacheSlots]atomic.Pointer[string]
}

const (
	nameCacheSlots = 1024 // a power of two
	// maxCachedName bounds the names the cache takes; longer ones are
	// rare and are copied as any other string.
	maxCachedName = 64
)

var names = &nameCache{seed: maphash.MakeSeed()}

// get returns b as a string, the cached copy when there is one.
func (c *nameCache) get(b []byte) (string, bool) {
	if len(b) == 0 || len(b) > maxCachedName {
		return "", false
	}
	// Two slots per name (i and i^1), so that two names of one object
	// whose hashes meet do not evict each other on every value.
	h := maphash.Bytes(c.seed, b)
	i := h & (nameCacheSlots - 1)
	first, second := c.slots[i].Load(), c.slots[i^1].Load()
	if first != nil && *first == string(b) {
		return *first, true
	}
	if second != nil && *second == string(b) {
		return *second, true
	}
	s := string(b)
	switch {
	case first == nil:
	case second == nil:
		i ^= 1
	default:
		i ^= h >> 63 // both taken: evict one, chosen by another bit
	}
	c.slots[i].Store(&s)
	return s, true
}

// typeNameCache shares type-name lists (<TN>) across Decode calls, as
// nameCache shares names: the objects of one output stream nearly always
// carry the same list, and each message used to allocate it again. Lists
// handed out are shared and never modified (Object.TypeNames says so).
type typeNameCache struct {
	seed  maphash.Seed
	slots [typeNameCacheSlots]atomic.Pointer[[]string]
}

const (
	typeNameCacheSlots = 64 // a power of two
	maxCachedTypeNames = 16 // longer hierarchies are not cached
)

var typeNameLists = &typeNameCache{seed: maphash.MakeSeed()}

// get returns a list equal to names, the cached one when there is one;
// names itself is never kept (it is the decoder's scratch stack).
func (c *typeNameCache) get(names []string) []string {
	if len(names) == 0 || len(names) > maxCachedTypeNames {
		return slices.Clone(names)
	}
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, n := range names {
		h.WriteString(n)
		h.WriteByte(0) // "ab","c" and "a","bc" differ
	}
	slot := &c.slots[h.Sum64()&(typeNameCacheSlots-1)]
	if p := slot.Load(); p != nil && slices.Equal(*p, names) {
		return *p
	}
	// The cached strings are copies: a name may point into a decoder's
	// string arena, which the cache should not keep alive.
	list := make([]string, len(names))
	for i, n := range names {
		list[i] = strings.Clone(n)
	}
	slot.Store(&list)
	return list
}

// typeNameSourceCache remembers the raw content of recent <TN> elements
// (the bytes between the start tag and a "</TN>" end tag, which they
// include) with the list each decodes to, so that the list repeated by
// every object of a stream is parsed once: a hit costs a comparison of
// those bytes with the input, where parsing cost a start tag, a text and an
// interned name per type. It holds a few entries, replaced in turn: an
// output stream rarely mixes more than a couple of types.
type typeNameSourceCache struct {
	next    atomic.Uint32
	entries [typeNameSources]atomic.Pointer[typeNameSource]
}

type typeNameSource struct {
	raw   string // a copy of the content and end tag
	names []string
}

const (
	typeNameSources = 8
	// maxTypeNameSource bounds the content the cache takes.
	maxTypeNameSource = 1 << 10
)

var recentTypeNames = &typeNameSourceCache{}

// get returns the list of the entry whose content and end tag begin data,
// and their length.
func (c *typeNameSourceCache) get(data []byte) ([]string, int, bool) {
	for i := range c.entries {
		e := c.entries[i].Load()
		if e != nil && len(e.raw) <= len(data) && string(data[:len(e.raw)]) == e.raw {
			return e.names, len(e.raw), true
		}
	}
	return nil, 0, false
}

// put remembers that raw (content and end tag) decodes to names, a list
// typeNameCache handed out (shared and never modified).
func (c *typeNameSourceCache) put(raw []byte, names []string) {
	if len(raw) > maxTypeNameSource {
		return
	}
	i := c.next.Add(1) % typeNameSources
	c.entries[i].Store(&typeNameSource{raw: string(raw), names: names})
}
