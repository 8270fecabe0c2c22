// Package metricspage reads a Prometheus text page (the daemon's
// /metrics) for the tools that show or check its figures: `mediation
// counters`, `mediation bench` and the test kit's metric waits.
package metricspage

import (
	"context"
	"fmt"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Page is a /metrics page's metric families by name.
type Page map[string]*dto.MetricFamily

// Get reads and parses the page at url with client.
func Get(ctx context.Context, client *http.Client, url string) (Page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	return Page(fams), nil
}

// Value is a counter's, gauge's or untyped series' value (0 for other
// kinds).
func Value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// First is the value of the first series of name, 0 if there is none.
func (p Page) First(name string) float64 {
	f, ok := p[name]
	if !ok || len(f.Metric) == 0 {
		return 0
	}
	return Value(f.Metric[0])
}

// Sum is the sum of every series of name.
func (p Page) Sum(name string) float64 {
	var total float64
	if f, ok := p[name]; ok {
		for _, m := range f.Metric {
			total += Value(m)
		}
	}
	return total
}

// SumWhere is the sum of the series of name whose label is value.
func (p Page) SumWhere(name, label, value string) float64 {
	var total float64
	for _, m := range p[name].GetMetric() {
		if v, ok := Label(m, label); ok && v == value {
			total += Value(m)
		}
	}
	return total
}

// Label is the value of the series' label name; ok is false when the
// series has no such label.
func Label(m *dto.Metric, name string) (value string, ok bool) {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue(), true
		}
	}
	return "", false
}
