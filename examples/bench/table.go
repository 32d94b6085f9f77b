package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// printTable writes the figures, one line per client and scenario, then a
// line of ratios (pypsrp ÷ gopsrp) per scenario both clients ran.
func printTable(w io.Writer, c config, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tclient\tobjects\twall\tclient CPU\trequests\twire bytes\tmax RSS\tMB/s\t")
	for _, sc := range split(c.scenarios) {
		label := sc
		if s, err := lookupScenario(sc); err == nil {
			label = s.labelFor(c)
		}
		var goRow, pyRow *row
		for i := range rows {
			if rows[i].scenario != sc {
				continue
			}
			r := rows[i]
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\t%s\t\n", label, r.client, r.objects,
				seconds(r.wall), seconds(r.cpu), r.wire.requests, strconv.FormatInt(r.wire.bytes, 10), mib(r.maxRSS), throughput(r))
			switch r.client {
			case clientGopsrp:
				goRow = &rows[i]
			case clientPypsrp:
				pyRow = &rows[i]
			}
		}
		if goRow != nil && pyRow != nil {
			fmt.Fprintf(tw, "%s\tpypsrp/gopsrp\t\t%s\t%s\t%s\t%s\t%s\t%s\t\n", label,
				ratio(float64(pyRow.wall), float64(goRow.wall)), ratio(float64(pyRow.cpu), float64(goRow.cpu)),
				ratio(float64(pyRow.wire.requests), float64(goRow.wire.requests)),
				ratio(float64(pyRow.wire.bytes), float64(goRow.wire.bytes)),
				ratio(float64(pyRow.maxRSS), float64(goRow.maxRSS)), ratio(rate(*pyRow), rate(*goRow)))
		}
	}
	_ = tw.Flush()
}

// rate is the row's file data per second of wall time in MB (10^6 bytes),
// or 0 when it moved none.
func rate(r row) float64 {
	if r.bytes == 0 || r.wall <= 0 {
		return 0
	}
	return float64(r.bytes) / 1e6 / r.wall.Seconds()
}

func throughput(r row) string {
	if r.bytes == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", rate(r))
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3fs", d.Seconds()) }

func mib(n int64) string { return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20)) }

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
