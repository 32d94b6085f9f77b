package xsduration

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatParse(t *testing.T) {
	t.Parallel()
	format := []struct {
		d    time.Duration
		want string
	}{
		{20 * time.Second, "PT20S"},
		{0, "PT0S"},
		{-time.Second, "PT0S"},
		{1500 * time.Millisecond, "PT1.5S"},
		{7200 * time.Second, "PT7200S"},
		{60*time.Second + 5*time.Millisecond, "PT60.005S"},
	}
	for _, tt := range format {
		assert.Equal(t, tt.want, Format(tt.d))
		back, err := Parse(tt.want)
		require.NoError(t, err)
		if tt.d >= 0 {
			assert.Equal(t, tt.d, back)
		}
	}
	parse := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT7200.000S", 7200 * time.Second, true},
		{"PT2147483.647S", 2147483647 * time.Millisecond, true},
		{"P0DT0H0M9S", 9 * time.Second, true},
		{"P1DT2H3M4.5S", 26*time.Hour + 3*time.Minute + 4500*time.Millisecond, true},
		{"-PT1S", -time.Second, true},
		{"PT.5S", 500 * time.Millisecond, true},
		{"P1Y", 0, false},
		{"P1M", 0, false},
		{"PT", 0, false},
		{"P", 0, false},
		{"", 0, false},
		{"20", 0, false},
		{"PT1.5M", 0, false},
		{"PT1..5S", 0, false},
		{"PTT1S", 0, false},
		{"PT99999999999999999999S", 0, false},
		{"P9999999999999DT0S", 0, false},
		{"PT1S1S", 0, false},
		{"PT9223372036.9S", 0, false},
		{"PT1M1H", 0, false},
		{"PT9223372036S", 9223372036 * time.Second, true},
		{"PT2562047H47M16.854775807S", time.Duration(1<<63 - 1), true},
		{"PT2562047H47M16.854775808S", 0, false},
	}
	for _, tt := range parse {
		got, err := Parse(tt.in)
		if !tt.ok {
			assert.ErrorIs(t, err, ErrInvalid, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

// FuzzParse checks that parseDuration never panics and that what it
// accepts in the seconds-only form round-trips through formatDuration.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"PT20S", "PT7200.000S", "P0DT0H0M9S", "PT2147483.647S", "-PT1S", "P1Y", "PT-1S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if d >= 0 {
			ms := d.Truncate(time.Millisecond)
			back, err := Parse(Format(d))
			if err != nil || back != ms {
				t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, Format(d), back, err)
			}
		}
	})
}
