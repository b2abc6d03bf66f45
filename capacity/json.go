package capacity

import (
	"encoding/json"
	"math"
)

// finite returns &v, or nil (JSON null) when v is NaN or infinite.
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// MarshalJSON writes the result with its rates in connections per second,
// null where a rate is not finite, and "unbounded": true when ports are
// never held (any rate is sustainable).
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		Rate          *float64 `json:"rate"`
		Unsustainable *float64 `json:"unsustainable"`
		BoundRate     *float64 `json:"bound_rate"`
		ErlangRate    *float64 `json:"erlang_rate"`
		Unbounded     bool     `json:"unbounded"`
	}{plain(r), finite(r.Rate), finite(r.Unsustainable), finite(r.BoundRate), finite(r.ErlangRate), math.IsInf(r.Rate, 1)})
}
