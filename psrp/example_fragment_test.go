package psrp_test

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/gopsrp/gopsrp/psrp"
	"github.com/gopsrp/gopsrp/psrp/clixml"
)

// A message goes out as fragments sized for the transport and comes back
// together on the other side.
func ExampleFragmenter() {
	body, err := psrp.EncodeBody(psrp.PipelineOutput{Value: "hello"}, clixml.MarshalOptions{})
	if err != nil {
		panic(err)
	}
	msg := psrp.Message{
		Destination:    psrp.DestinationClient,
		Type:           psrp.MessagePipelineOutput,
		RunspacePoolID: uuid.MustParse("4A8013C9-7387-4239-842A-B290AC4DA47B"),
		PipelineID:     uuid.MustParse("FC8CF863-1D41-4202-AFD7-A82484D8F6D1"),
		Data:           body,
	}

	var out psrp.Fragmenter
	out.Add(1, msg.Append(nil))
	var in psrp.Defragmenter
	for out.Pending() {
		payload := out.Pack(nil, 40) // a tiny transport: 19 data bytes per fragment
		if err := in.Write(payload); err != nil {
			panic(err)
		}
	}
	raw, _ := in.Next()
	m, _ := psrp.DecodeMessage(raw)
	b, _ := psrp.DecodeBody(m.Type, m.Data, clixml.UnmarshalOptions{})
	fmt.Println(m.Type, m.PipelineID, b.(*psrp.PipelineOutput).Value)
	// Output: PIPELINE_OUTPUT fc8cf863-1d41-4202-afd7-a82484d8f6d1 hello
}
