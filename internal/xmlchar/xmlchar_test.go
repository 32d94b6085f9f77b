package xmlchar

import "testing"

func TestAppendEntity(t *testing.T) {
	for ent, want := range map[string]string{
		"lt": "<", "gt": ">", "amp": "&", "quot": `"`, "apos": "'",
		"#60": "<", "#x3C": "<", "#x3c": "<", "#9": "\t", "#x1F600": "😀", "#x10FFFF": "\U0010FFFF",
	} {
		got, ok := AppendEntity([]byte("a"), []byte(ent))
		if !ok || string(got) != "a"+want {
			t.Errorf("&%s; = %q, %v; want %q", ent, got, ok, "a"+want)
		}
	}
	for _, ent := range []string{"", "#", "#x", "nbsp", "#0", "#x0", "#1", "#xD800", "#xFFFE", "#x110000",
		"#99999999999999999999", "#xFFFFFFFFFFFF", "#-1", "#x-1", "#1a", "#xG"} {
		if got, ok := AppendEntity([]byte("a"), []byte(ent)); ok || string(got) != "a" {
			t.Errorf("&%s; accepted: %q", ent, got)
		}
	}
}

func FuzzAppendEntity(f *testing.F) {
	for _, s := range []string{"lt", "#60", "#x3C", "#xD800", "#99999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, ent []byte) {
		out, ok := AppendEntity(nil, ent)
		if ok != (len(out) > 0) {
			t.Fatalf("&%s;: ok %v with %q", ent, ok, out)
		}
	})
}
