package allocator

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Range is an inclusive range of ephemeral ports Lo..Hi, plus ports inside
// it that automatic selection must skip (Linux
// net.ipv4.ip_local_reserved_ports, OpenBSD baddynamic).
type Range struct {
	// Lo is the first port of the range, 1..65535.
	Lo uint16
	// Hi is the last port of the range, Lo..65535.
	Hi uint16
	// Reserved lists ports that are never handed out automatically. The
	// spans need not be sorted and may extend outside Lo..Hi.
	Reserved []Span
}

// Span is an inclusive run of ports Lo..Hi.
type Span struct {
	Lo, Hi uint16
}

// Size returns the number of ports in the range, Hi-Lo+1, or 0 for an
// inverted range.
func (r Range) Size() int {
	if r.Hi < r.Lo {
		return 0
	}
	return int(r.Hi) - int(r.Lo) + 1
}

// Contains reports whether p lies in Lo..Hi.
func (r Range) Contains(p uint16) bool { return p >= r.Lo && p <= r.Hi }

// IsReserved reports whether p is one of the reserved ports.
func (r Range) IsReserved(p uint16) bool {
	for _, s := range r.Reserved {
		if p >= s.Lo && p <= s.Hi {
			return true
		}
	}
	return false
}

// Usable returns the number of ports in Lo..Hi that are not reserved.
func (r Range) Usable() int {
	n := r.Size()
	for _, s := range mergeSpans(r.Reserved) {
		lo, hi := max(s.Lo, r.Lo), min(s.Hi, r.Hi)
		if lo <= hi && r.Size() > 0 {
			n -= int(hi) - int(lo) + 1
		}
	}
	return n
}

// Validate checks that the range is a usable ephemeral range: no port 0,
// Lo <= Hi, and at least one port not reserved.
func (r Range) Validate() error {
	const want = "expected LO-HI with 1 <= LO <= HI <= 65535"
	if r.Lo == 0 {
		return fmt.Errorf("range %d-%d: port 0 is not an ephemeral port; %s", r.Lo, r.Hi, want)
	}
	if r.Hi < r.Lo {
		return fmt.Errorf("range %d-%d: inverted (LO > HI); %s", r.Lo, r.Hi, want)
	}
	for _, s := range r.Reserved {
		if s.Hi < s.Lo {
			return fmt.Errorf("reserved span %d-%d: inverted (LO > HI); expected LO-HI with LO <= HI", s.Lo, s.Hi)
		}
	}
	if r.Usable() == 0 {
		return fmt.Errorf("range %s: the reserved ports cover the whole range; leave at least one port unreserved", r)
	}
	return nil
}

// String formats the range as "LO-HI", followed by " reserved SPANS" when
// ports are reserved. ParseRange and ParseSpans read the two parts back.
func (r Range) String() string {
	s := fmt.Sprintf("%d-%d", r.Lo, r.Hi)
	if len(r.Reserved) > 0 {
		s += " reserved " + FormatSpans(r.Reserved)
	}
	return s
}

// ParseRange parses "LO-HI" (inclusive, 1 <= LO <= HI <= 65535). It does
// not accept reserved ports; set Range.Reserved from ParseSpans.
func ParseRange(s string) (Range, error) {
	const want = "expected LO-HI with 1 <= LO <= HI <= 65535, e.g. 32768-60999"
	lo, hi, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Range{}, fmt.Errorf("range %q: %s", s, want)
	}
	l, err := parsePort(lo)
	if err != nil {
		return Range{}, fmt.Errorf("range %q: LO %v; %s", s, err, want)
	}
	h, err := parsePort(hi)
	if err != nil {
		return Range{}, fmt.Errorf("range %q: HI %v; %s", s, err, want)
	}
	r := Range{Lo: l, Hi: h}
	if err := r.Validate(); err != nil {
		return Range{}, err
	}
	return r, nil
}

// ParseSpans parses a comma-separated list of ports and inclusive port
// spans, such as "8080,9000-9100" (the syntax of Linux
// ip_local_reserved_ports). The empty string gives no spans.
func ParseSpans(s string) ([]Span, error) {
	const want = "expected a comma-separated list of ports or LO-HI spans within 1-65535, e.g. 8080,9000-9100"
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []Span
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isSpan := strings.Cut(item, "-")
		l, err := parsePort(lo)
		if err != nil {
			return nil, fmt.Errorf("ports %q: item %q: %v; %s", s, item, err, want)
		}
		h := l
		if isSpan {
			if h, err = parsePort(hi); err != nil {
				return nil, fmt.Errorf("ports %q: item %q: %v; %s", s, item, err, want)
			}
		}
		if h < l {
			return nil, fmt.Errorf("ports %q: item %q is inverted (LO > HI); %s", s, item, want)
		}
		out = append(out, Span{Lo: l, Hi: h})
	}
	return out, nil
}

// FormatSpans formats spans as ParseSpans reads them.
func FormatSpans(spans []Span) string {
	var b strings.Builder
	for i, s := range spans {
		if i > 0 {
			b.WriteByte(',')
		}
		if s.Lo == s.Hi {
			fmt.Fprintf(&b, "%d", s.Lo)
		} else {
			fmt.Fprintf(&b, "%d-%d", s.Lo, s.Hi)
		}
	}
	return b.String()
}

func parsePort(s string) (uint16, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("is empty")
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", s)
	}
	if v == 0 {
		return 0, fmt.Errorf("is port 0, which is not an ephemeral port")
	}
	if v > 65535 {
		return 0, fmt.Errorf("%d is above 65535", v)
	}
	return uint16(v), nil
}

// mergeSpans returns the spans sorted and with overlaps joined.
func mergeSpans(spans []Span) []Span {
	if len(spans) == 0 {
		return nil
	}
	s := slices.Clone(spans)
	slices.SortFunc(s, func(a, b Span) int { return int(a.Lo) - int(b.Lo) })
	out := s[:1]
	for _, x := range s[1:] {
		last := &out[len(out)-1]
		if int(x.Lo) <= int(last.Hi)+1 {
			last.Hi = max(last.Hi, x.Hi)
			continue
		}
		out = append(out, x)
	}
	return out
}
