package endpoint_test

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
)

// A Skype for Business client calls an SBC directly; each side reports what
// it heard. Against a mediation server, Target is its edge address instead.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sbc, err := endpoint.StartSBC(ctx, endpoint.SBCConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sbc.Close()
	client, err := endpoint.StartClient(ctx, endpoint.ClientConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()

	caller, err := client.Call(ctx, endpoint.CallOptions{Target: sbc.Addr(), To: "+15550100", Duration: time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	callee, err := sbc.NextCall(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("client:", caller.Code, caller.Codec, caller.EndedBy, caller.MediaFrom == callee.MediaLocal)
	fmt.Println("sbc:   ", callee.Code, callee.Codec, callee.EndedBy, callee.MediaFrom == caller.MediaLocal)
	// DetectedHz is within a few Hz of the tone; round it for the output.
	fmt.Printf("client heard %.0f Hz, SBC heard %.0f Hz\n", math.Round(caller.DetectedHz/10)*10, math.Round(callee.DetectedHz/10)*10)
	// Output:
	// client: 200 PCMA local-bye true
	// sbc:    200 PCMA remote-bye true
	// client heard 440 Hz, SBC heard 1000 Hz
}
