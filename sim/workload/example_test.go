package workload_test

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/portsim/portsim/sim/workload"
)

func ExampleSpec_New() {
	spec := workload.Spec{
		Arrivals:     workload.Constant,
		Rate:         4, // attempts per second
		Destinations: 3,
		DestOrder:    workload.RoundRobin,
		Sources:      2,
		Hold:         workload.MustParseDist("1s"),
	}
	w, err := spec.New(1)
	if err != nil {
		fmt.Println(err)
		return
	}
	var a workload.Arrival
	for i := 0; i < 4 && w.Next(&a); i++ {
		fmt.Println(a.At, a.Flow.Src, a.Flow.Dst, a.Hold, a.Close)
	}
	// Output:
	// 0s 10.0.0.1 198.18.0.1:443 1s client
	// 250ms 10.0.0.2 198.18.0.2:443 1s client
	// 500ms 10.0.0.1 198.18.0.3:443 1s client
	// 750ms 10.0.0.2 198.18.0.1:443 1s client
}

func ExampleParseDist() {
	for _, s := range []string{"100ms", "exp:2s", "pareto:10ms,1.5", "lognormal:1s,0.5", "forever"} {
		d, err := workload.ParseDist(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-18s mean %v\n", d, d.Mean())
	}
	_, err := workload.ParseDist("exp:-1s")
	fmt.Println(err)
	// Output:
	// 100ms              mean 100ms
	// exp:2s             mean 2s
	// pareto:10ms,1.5    mean 30ms
	// lognormal:1s,0.5   mean 1.133148453s
	// forever            mean 2562047h47m16.854775807s
	// distribution "exp:-1s": mean -1s is negative; expected a duration >= 0
}

func ExampleSpec_CheckTrace() {
	const trace = `time,src,dst,dst_port,hold,close
0,10.0.0.1,198.18.0.1,443,1.5s,client
0.5,10.0.0.1,198.18.0.1,443,soon,client
0.25,10.0.0.1,198.18.0.1,443,forever,rst
`
	spec := workload.Spec{
		Arrivals:  workload.Trace,
		TraceName: "capture.csv",
		TraceOpen: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(trace)), nil },
	}
	sum, err := spec.CheckTrace()
	fmt.Println(sum.Records, "good,", sum.Malformed, "malformed, last at", sum.Last.Round(time.Millisecond))
	fmt.Println(err)
	// Output:
	// 2 good, 1 malformed, last at 250ms
	// capture.csv:3: column hold: "soon": expected a Go duration such as 1.5s, a plain number of seconds such as 1.5, or forever
}
