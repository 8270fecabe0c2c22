package webui

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/mediation-emulator/mediation/mediation/ladder"
)

// Geometry of the SVG ladder: three lanes (client, mediation, gateway).
const (
	laneX0   = 90
	laneGap  = 300
	rowH     = 30
	headH    = 50
	timeX    = 4
	noteX    = laneX0 + 2*laneGap + 16
	svgWidth = noteX + 600
)

// drawLadder is a call's ladder as SVG, Snooper-style: one arrow per
// message between the lanes of its leg, its label, its time, and the
// SDP address and a=x-bypassid beside it. Each arrow is a group with the
// message's index, which the page's script shows the text of on click.
func drawLadder(c ladder.Call) template.HTML {
	var b strings.Builder
	h := headH + rowH*(len(c.Messages)+1)
	fmt.Fprintf(&b, `<svg id="ladder" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="monospace" font-size="12">`, svgWidth, h)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>`)
	for i, name := range []string{"client", "mediation", "gateway"} {
		x := laneX0 + i*laneGap
		fmt.Fprintf(&b, `<text x="%d" y="20" text-anchor="middle" font-weight="bold">%s</text>`, x, name)
		fmt.Fprintf(&b, `<line x1="%d" y1="30" x2="%d" y2="%d" stroke="#999"/>`, x, x, h)
	}
	for i, m := range c.Messages {
		y := headH + rowH*i
		from, to := laneX0, laneX0+laneGap // edge, in: client -> mediation
		if m.Side == "gateway" {
			from, to = laneX0+laneGap, laneX0+2*laneGap
		}
		if m.Side == "edge" && m.Dir == "out" || m.Side == "gateway" && m.Dir == "in" {
			from, to = to, from
		}
		col := colour(m)
		fmt.Fprintf(&b, `<g class="msg" data-i="%d" style="cursor:pointer">`, i)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">%s</text>`, timeX, y+4, template.HTMLEscapeString(m.Time.UTC().Format("05.000000")))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2" marker-end="url(#arrow)"/>`, from, y+8, to, y+8, col)
		fmt.Fprintf(&b, `<text class="label" x="%d" y="%d" text-anchor="middle" fill="%s">%s</text>`, (from+to)/2, y+3, col, template.HTMLEscapeString(m.Label))
		var notes []string
		if m.SDP != "" {
			notes = append(notes, "sdp "+m.SDP)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#333">%s`, noteX, y+8, template.HTMLEscapeString(strings.Join(notes, " ")))
		if m.BypassID != "" {
			fmt.Fprintf(&b, ` <tspan class="bypassid" fill="#a0a">a=x-bypassid:%s</tspan>`, template.HTMLEscapeString(m.BypassID))
		}
		b.WriteString(`</text></g>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func colour(m ladder.Message) string {
	switch code := m.Status(); {
	case code == 0:
		return "#06c"
	case code < 200:
		return "#888"
	case code < 300:
		return "#080"
	case code < 400:
		return "#b80"
	}
	return "#c00"
}
