//go:build linux

package probe

import (
	"reflect"
	"testing"
)

// TestParseConntrackS reads `conntrack -S` as conntrack-tools 1.4 prints
// it, and refuses output without insert_failed.
func TestParseConntrackS(t *testing.T) {
	out := "cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=3 drop=3 early_drop=0 error=0 search_restart=1 clash_resolve=0 chaintoolong=0 \n" +
		"cpu=1   \tfound=2 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=4 chaintoolong=0 \n"
	m, err := parseConntrackS(out)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]uint64{"found": {0, 2}, "invalid": {0, 0}, "insert": {0, 0}, "insert_failed": {3, 0}, "drop": {3, 0}, "early_drop": {0, 0},
		"error": {0, 0}, "search_restart": {1, 0}, "clashres": {0, 4}, "chaintoolong": {0, 0}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %v\nwant %v", m, want)
	}
	if _, err := parseConntrackS("conntrack v1.4.8: Operation not permitted\n"); err == nil {
		t.Error("output without counters was accepted")
	}
}
