package workload

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// closedSpec returns a closed loop of n clients with fixed hold and think.
func closedSpec(n int, hold, think time.Duration) Spec {
	return Spec{Arrivals: Closed, Clients: n, Hold: Fixed(hold), Think: Fixed(think), Destinations: 1, Sources: 1}
}

// script runs a closed loop for steps attempts, failing the attempts for
// which fail(client, k) is true (k counts the client's attempts from 0),
// and returns "client@time" for each attempt.
func script(t *testing.T, s Spec, steps int, fail func(client, k int) bool) []string {
	t.Helper()
	w, err := s.New(1)
	if err != nil {
		t.Fatal(err)
	}
	fb := w.(Feedback)
	tries := map[int]int{}
	var out []string
	for range steps {
		a, ok := nextOf(w)
		if !ok {
			if w.Err() != nil {
				t.Fatalf("Err: %v", w.Err())
			}
			break
		}
		out = append(out, fmt.Sprintf("%d@%v", a.Client, a.At))
		fb.Done(a, !fail(a.Client, tries[a.Client]))
		tries[a.Client]++
	}
	return out
}

func TestClosedExact(t *testing.T) {
	never := func(int, int) bool { return false }
	tests := []struct {
		name  string
		spec  Spec
		fail  func(client, k int) bool
		steps int
		want  string
	}{
		{
			name: "reconnect after hold + think", spec: closedSpec(3, time.Second, 100*time.Millisecond),
			fail: never, steps: 9,
			want: "0@0s 1@0s 2@0s 0@1.1s 1@1.1s 2@1.1s 0@2.2s 1@2.2s 2@2.2s",
		},
		{
			name: "a failed attempt retries after think", spec: closedSpec(3, time.Second, 100*time.Millisecond),
			fail: func(c, k int) bool { return c == 1 && k < 2 }, steps: 8,
			want: "0@0s 1@0s 2@0s 1@100ms 1@200ms 0@1.1s 2@1.1s 1@1.3s",
		},
		{
			// Client 1 is rescheduled for 2s first (at time 0), client 0
			// later (at 1s); at 2s the lower index still goes first.
			name: "ties go to the lower client", spec: closedSpec(2, time.Second, time.Second),
			fail: func(c, k int) bool { return c == 0 && k < 2 }, steps: 5,
			want: "0@0s 1@0s 0@1s 0@2s 1@2s",
		},
		{
			name: "a client holding forever never returns", spec: closedSpec(3, Forever, time.Second),
			fail: func(c, k int) bool { return c == 2 && k == 0 }, steps: 10,
			want: "0@0s 1@0s 2@0s 2@1s",
		},
		{
			name: "zero hold", spec: closedSpec(2, 0, 10*time.Millisecond),
			fail: never, steps: 6,
			want: "0@0s 1@0s 0@10ms 1@10ms 0@20ms 1@20ms",
		},
	}
	for _, tt := range tests {
		got := strings.Join(script(t, tt.spec, tt.steps, tt.fail), " ")
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// TestClosedRandom runs 100 clients with random holds and think times and
// random outcomes, and checks that attempts come in (time, client) order
// and that each client returns exactly At + Hold (if ok) + Think after its
// previous attempt, the think times being the think stream's draws in
// attempt order.
func TestClosedRandom(t *testing.T) {
	const clients, n = 100, 100_000
	s := Spec{Arrivals: Closed, Clients: clients, Hold: MustParseDist("exp:1s"), Think: MustParseDist("lognormal:10ms,1"),
		Destinations: 10, Sources: 4}
	w, err := s.New(42)
	if err != nil {
		t.Fatal(err)
	}
	fb := w.(Feedback)
	think := newSampler(s.Think, newStream(42, streamThink))
	outcomes := rand.New(rand.NewPCG(1, 2))
	due := make([]time.Duration, clients) // when each client must attempt next
	var prev Arrival
	for i := range n {
		a, ok := nextOf(w)
		if !ok {
			t.Fatalf("ended after %d attempts: %v", i, w.Err())
		}
		if i > 0 && (a.At < prev.At || a.At == prev.At && a.Client <= prev.Client) {
			t.Fatalf("attempt %d (client %d at %v) comes after client %d at %v", i, a.Client, a.At, prev.Client, prev.At)
		}
		if a.At != due[a.Client] {
			t.Fatalf("attempt %d: client %d at %v, want %v", i, a.Client, a.At, due[a.Client])
		}
		if a.Flow.Src != SourceAddr(i%4) {
			t.Fatalf("attempt %d from %v, want %v", i, a.Flow.Src, SourceAddr(i%4))
		}
		ok = outcomes.IntN(4) != 0
		fb.Done(a, ok)
		due[a.Client] = a.At + think.draw()
		if ok {
			due[a.Client] += a.Hold
		}
		prev = a
	}
}

func TestClosedMisuse(t *testing.T) {
	s := closedSpec(2, time.Second, time.Second)
	w, _ := s.New(1)
	a, _ := nextOf(w)
	if _, ok := nextOf(w); ok {
		t.Fatal("Next without Done succeeded")
	}
	want := "workload: closed loop: Next called again before Done for client 0's attempt at 0s; call Done once per attempt"
	if err := w.Err(); err == nil || err.Error() != want {
		t.Errorf("Err = %v, want %q", err, want)
	}
	w.(Feedback).Done(a, true)
	if _, ok := nextOf(w); ok {
		t.Error("Next succeeded after a misuse")
	}

	w, _ = s.New(1)
	a, _ = nextOf(w)
	a.Client = 1
	w.(Feedback).Done(a, true)
	want = "workload: closed loop: Done for client 1's attempt at 0s, which is not the attempt Next returned last; call Done once per attempt, in order"
	if err := w.Err(); err == nil || err.Error() != want {
		t.Errorf("Err = %v, want %q", err, want)
	}

	w, _ = s.New(1)
	a, _ = nextOf(w)
	w.(Feedback).Done(a, true)
	w.(Feedback).Done(a, true)
	if w.Err() == nil {
		t.Error("a second Done for one attempt was accepted")
	}
}

// TestClosedSaturates checks that a client whose next attempt would come
// after the end of time leaves the loop instead of wrapping around.
func TestClosedSaturates(t *testing.T) {
	s := closedSpec(1, MaxSample, MaxSample)
	w, _ := s.New(1)
	var ats []time.Duration
	for {
		a, ok := nextOf(w)
		if !ok {
			break
		}
		ats = append(ats, a.At)
		w.(Feedback).Done(a, true)
		if len(ats) > 5 {
			t.Fatalf("attempts at %v: the loop does not end", ats)
		}
	}
	if len(ats) != 2 || ats[0] != 0 || ats[1] != 2*MaxSample {
		t.Errorf("attempts at %v, want [0 %v]", ats, 2*MaxSample)
	}
}
