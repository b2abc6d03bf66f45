package suggest

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"linux", "linux-bind", "freebsd", "sequential", "rfc6056-1"}
	for _, tc := range []struct{ in, want string }{
		{"linx", "linux"},
		{"LINUX", "linux"},
		{"freebds", "freebsd"},
		{"sequentail", "sequential"},
		{"rfc6056-7", "rfc6056-1"},
		{"zzzzzzzzz", ""},
	} {
		if got := Closest(tc.in, names); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Hint("linx", names); got != ` (did you mean "linux"?)` {
		t.Errorf("Hint = %q", got)
	}
	if got := Hint("zzzzzzzzzz", names); got != "" {
		t.Errorf("Hint for nonsense = %q, want empty", got)
	}
}
