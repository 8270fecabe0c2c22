package mediation

// PerfCounter is one LS:MediationServer performance counter as PerfMon
// shows it, and the Prometheus series that carries it.
type PerfCounter struct {
	// Object and Counter are PerfMon's names ("LS:MediationServer -
	// Inbound Calls", "- Current").
	Object, Counter string
	// Metric and Direction select the series (Direction "" for none).
	Metric, Direction string
	// Cumulative counters also have a rate per second.
	Cumulative bool
}

// PerfCounters are the counters `mediation counters` and the web page
// show, in PerfMon's order.
var PerfCounters = []PerfCounter{
	{"LS:MediationServer - Inbound Calls", "- Current", "mediationserver_calls_current", "inbound", false},
	{"LS:MediationServer - Inbound Calls", "- Total", "mediationserver_calls_total", "inbound", true},
	{"LS:MediationServer - Inbound Calls", "- Active media bypass calls", "mediationserver_media_bypass_calls_active", "inbound", false},
	{"LS:MediationServer - Inbound Calls", "- Total media bypass calls", "mediationserver_media_bypass_calls_total", "inbound", true},
	{"LS:MediationServer - Outbound Calls", "- Current", "mediationserver_calls_current", "outbound", false},
	{"LS:MediationServer - Outbound Calls", "- Total", "mediationserver_calls_total", "outbound", true},
	{"LS:MediationServer - Outbound Calls", "- Active media bypass calls", "mediationserver_media_bypass_calls_active", "outbound", false},
	{"LS:MediationServer - Outbound Calls", "- Total media bypass calls", "mediationserver_media_bypass_calls_total", "outbound", true},
	{"LS:MediationServer - Global Counters", "- Current number of ports opened on the gateway side (pairs)", "mediationserver_gateway_side_port_pairs_open", "", false},
	{"Media bypass", "- Enabled", "mediationserver_bypass_enabled", "", false},
}
