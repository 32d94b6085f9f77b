package clixml_test

import (
	"errors"
	"testing"
	"time"

	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// UnmarshalValue maps a decoded model exactly as Unmarshal maps the CLIXML
// it came from.
func TestUnmarshalValueMatchesUnmarshal(t *testing.T) {
	type status int32
	type service struct {
		Name        string
		DisplayName string
		Status      status // an enum fills an integer from its value
		CanStop     bool
		Missing     string
	}
	var viaXML service
	if err := clixml.Unmarshal([]byte(serviceXML), &viaXML); err != nil {
		t.Fatal(err)
	}
	m, err := clixml.Decode([]byte(serviceXML))
	if err != nil {
		t.Fatal(err)
	}
	var viaModel service
	if err := clixml.UnmarshalValue(m, &viaModel); err != nil {
		t.Fatal(err)
	}
	want := service{Name: "WinRM", DisplayName: "Windows Remote Management (WS-Management)", Status: 4, CanStop: true}
	if viaModel != want || viaXML != want {
		t.Errorf("UnmarshalValue = %+v\nUnmarshal      = %+v\nwant             %+v", viaModel, viaXML, want)
	}
}

func TestUnmarshalValueTargets(t *testing.T) {
	var anyV any
	if err := clixml.UnmarshalValue(int32(3), &anyV); err != nil || anyV != int32(3) {
		t.Errorf("into *any: %v, %v", anyV, err)
	}
	var d time.Duration
	if err := clixml.UnmarshalValue(clixml.TimeSpanOf(time.Second), &d); err != nil || d != time.Second {
		t.Errorf("TimeSpan into Duration: %v, %v", d, err)
	}
	var n int8
	err := clixml.UnmarshalValue(int32(300), &n)
	var te *clixml.UnmarshalTypeError
	if !errors.As(err, &te) {
		t.Errorf("out of range: %v, want *UnmarshalTypeError", err)
	}
	var inv *clixml.InvalidUnmarshalError
	if err := clixml.UnmarshalValue("x", n); !errors.As(err, &inv) {
		t.Errorf("non-pointer target: %v, want *InvalidUnmarshalError", err)
	}
	if err := clixml.UnmarshalValue("x", (*string)(nil)); !errors.As(err, &inv) {
		t.Errorf("nil pointer target: %v, want *InvalidUnmarshalError", err)
	}
	var s []string
	list := &clixml.Object{Kind: clixml.List, Items: []any{"a", "b"}}
	if err := clixml.UnmarshalValue(list, &s); err != nil || len(s) != 2 || s[1] != "b" {
		t.Errorf("list into []string: %v, %v", s, err)
	}
}
