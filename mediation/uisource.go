package mediation

import (
	"net/http"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/mediation-emulator/mediation/mediation/ladder"
	"github.com/mediation-emulator/mediation/mediation/webui"
)

// UI is the web page (mediation/webui), to mount at /ui/ on the HTTP
// (admin) listener.
func (s *Server) UI() http.Handler { return webui.New(uiSource{s}) }

// uiSource feeds the web page (webui) from the server: live calls from
// their records, ladders from the call book, counters from the metrics.
type uiSource struct{ s *Server }

var _ webui.Source = uiSource{}

// Live implements webui.Source.
func (u uiSource) Live() []webui.Live {
	var out []webui.Live
	for _, r := range u.s.Calls() {
		out = append(out, webui.Live{ID: r.CallID, Direction: r.Direction, From: r.From, To: r.To, Gateway: r.Gateway,
			Decided: r.BypassReason != "", Bypass: r.MediationServerBypass, Reason: r.BypassReason,
			EdgeCodec: r.EdgeLeg.Codec, GatewayCodec: r.GatewayLeg.Codec,
			EdgeLossPct: lossPct(r.EdgeLeg), GatewayLossPct: lossPct(r.GatewayLeg),
			EdgeJitterMS: r.EdgeLeg.JitterMs, GatewayJitter: r.GatewayLeg.JitterMs, Start: r.StartTime})
	}
	return out
}

func lossPct(l LegRecord) float64 {
	expected := float64(l.PacketsReceived) + float64(l.PacketsLost)
	if expected <= 0 || l.PacketsLost <= 0 {
		return 0
	}
	return 100 * float64(l.PacketsLost) / expected
}

// Calls implements webui.Source.
func (u uiSource) Calls() []ladder.Call {
	for _, r := range u.s.Calls() {
		u.s.book.record(r, false)
	}
	return u.s.book.snapshot()
}

// Trunks implements webui.Source.
func (u uiSource) Trunks() []webui.Trunk {
	var out []webui.Trunk
	for _, t := range u.s.TrunkStates() {
		out = append(out, webui.Trunk{Name: t.Name, Address: t.Address, Transport: t.Transport, Up: t.Up,
			Resting: t.Up && t.UnavailableUntil != nil})
	}
	return out
}

// Counters implements webui.Source.
func (u uiSource) Counters() []webui.Counter {
	values := map[string]float64{}
	fams, _ := u.s.metrics.reg.Gather()
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			dir := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "direction" {
					dir = l.GetValue()
				}
			}
			values[f.GetName()+"/"+dir] += value(m)
		}
	}
	out := make([]webui.Counter, 0, len(PerfCounters))
	for _, c := range PerfCounters {
		name := strings.TrimPrefix(c.Object, "LS:MediationServer - ") + " " + c.Counter
		out = append(out, webui.Counter{Name: name, Value: values[c.Metric+"/"+c.Direction]})
	}
	return out
}

// value is a gauge's or a counter's value.
func value(m *dto.Metric) float64 {
	return m.GetGauge().GetValue() + m.GetCounter().GetValue()
}
