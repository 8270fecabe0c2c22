package mediationtest_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/mediation-emulator/mediation/mediation/endpoint"
	"github.com/mediation-emulator/mediation/mediation/mediationtest"
)

// A supported Skype for Business client gets media bypass from the web
// service and talks to the SBC directly; a Lync 2013 client does not, and the
// mediation server anchors its media.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lab, err := mediationtest.New(ctx, mediationtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	for _, version := range []string{mediationtest.SupportedVersion, mediationtest.Lync2013Version} {
		client, err := lab.NewClient(ctx, mediationtest.ClientOptions{Version: version})
		if err != nil {
			log.Fatal(err)
		}
		call, err := lab.CallOut(ctx, client, endpoint.CallOptions{})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(version, "bypass granted:", client.Grant.Enabled, "media:", call.Media(), "audio ok:", call.AudioOK())
	}
	// Output:
	// 16.0.7870.2020 bypass granted: true media: bypassed audio ok: true
	// 15.0.4420.1017 bypass granted: false media: anchored audio ok: true
}
