package workload

import (
	"strings"
	"testing"
	"time"
)

// TestSummarizeTrace checks the description of a small trace, worked out
// by hand: connections [0,2s), [1s,2s), [1.5s,forever), [3s,3.5s).
func TestSummarizeTrace(t *testing.T) {
	text := TraceHeader + "\n" +
		"0,10.0.0.1,198.18.0.1,443,2s,client\n" +
		"1,10.0.0.1,198.18.0.2,443,1s,client\n" +
		"1.5,10.0.0.2,198.18.0.1,443,forever,server\n" +
		"3,10.0.0.1,198.18.0.1,443,500ms,rst\n" +
		"3,10.0.0.1,198.18.0.1,80,500ms,rst\n" +
		"4,bad,198.18.0.1,443,1s,client\n"
	st, err := SummarizeTrace("t.csv", strings.NewReader(text))
	if err == nil || !strings.HasPrefix(err.Error(), "t.csv:7: column src") {
		t.Errorf("error %v, want the malformed line 7", err)
	}
	want := TraceStats{
		TraceSummary: TraceSummary{Records: 5, Malformed: 1, First: 0, Last: 3 * time.Second},
		Sources:      2, Destinations: 3, Pairs: 4,
		Forever: 1, HoldMin: 500 * time.Millisecond, HoldMax: 2 * time.Second, HoldMean: 1000 * time.Millisecond,
		// At 1.5s: [0,2s), [1s,2s) and the forever one.
		PeakHeld: 3,
	}
	if st != want {
		t.Errorf("SummarizeTrace =\n%+v\nwant\n%+v", st, want)
	}
	sum, _ := ValidateTrace("t.csv", strings.NewReader(text))
	if sum != want.TraceSummary {
		t.Errorf("ValidateTrace = %+v, want %+v", sum, want.TraceSummary)
	}
}
