package probe

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// FormatVersion is the version of the observation file format.
const FormatVersion = 1

// Observations is what one probe of a kernel recorded.
type Observations struct {
	// Format is FormatVersion.
	Format int `json:"format"`
	// Kernel identifies the kernel probed.
	Kernel Kernel `json:"kernel"`
	// Namespace says how the namespaces were made: "root" (CLONE_NEWNET)
	// or "user" (CLONE_NEWUSER|CLONE_NEWNET as an unprivileged user).
	Namespace string `json:"namespace"`
	// Defaults are the sysctls of a fresh network namespace, before the
	// probe changed them, by name ("net.ipv4.tcp_tw_reuse"); "absent"
	// marks one this kernel does not have (tcp_tw_reuse_delay before
	// 6.14).
	Defaults map[string]string `json:"defaults"`
	// Experiments are the experiments run, in order.
	Experiments []Observation `json:"experiments"`
}

// Kernel is uname(2) of the kernel probed: the fields of struct utsname
// of the same names.
type Kernel struct {
	Sysname string `json:"sysname"`
	Release string `json:"release"`
	Version string `json:"version"`
	Machine string `json:"machine"`
}

// Observation is the outcome of one experiment.
type Observation struct {
	// Experiment is the experiment as run.
	Experiment Experiment `json:"experiment"`
	// Sysctls are the settings read back after writing them, plus the
	// ones that matter but were left alone (tcp_tw_reuse_delay), by name.
	Sysctls map[string]string `json:"sysctls"`
	// Attempts are every attempt in the order made.
	Attempts []Attempt `json:"attempts"`
}

// Attempt is one attempt to get a port. In JSON it is the array
// [step, at_us, dst, port, errno, hold_us].
type Attempt struct {
	// Step is the index of the step that made it.
	Step int
	// At is the time of the attempt since the experiment's first step.
	At time.Duration
	// Dst is the index of the destination (Dest.At), or -1 for none.
	Dst int
	// Port is the port the socket got, 0 when it failed.
	Port uint16
	// Errno is 0 on success, else the failure.
	Errno Errno
	// Hold is how long after At the socket was closed (when both ends
	// of a TCP connection were), or -1 when it was kept open.
	Hold time.Duration
}

// OK reports whether the attempt got a port.
func (a Attempt) OK() bool { return a.Errno == 0 }

// MarshalJSON writes the attempt as [step, at_us, dst, port, errno, hold_us].
func (a Attempt) MarshalJSON() ([]byte, error) {
	hold := int64(-1)
	if a.Hold >= 0 {
		hold = a.Hold.Microseconds()
	}
	return fmt.Appendf(nil, "[%d,%d,%d,%d,%d,%d]", a.Step, a.At.Microseconds(), a.Dst, a.Port, int(a.Errno), hold), nil
}

// UnmarshalJSON reads [step, at_us, dst, port, errno, hold_us].
func (a *Attempt) UnmarshalJSON(b []byte) error {
	var v []int64
	if err := json.Unmarshal(b, &v); err != nil || len(v) != 6 {
		return fmt.Errorf("attempt %s: expected [step, at_us, dst, port, errno, hold_us]", b)
	}
	if v[3] < 0 || v[3] > 65535 || v[0] < 0 || v[1] < 0 || v[2] < -1 || v[5] < -1 {
		return fmt.Errorf("attempt %s: a field is out of range", b)
	}
	*a = Attempt{Step: int(v[0]), At: time.Duration(v[1]) * time.Microsecond, Dst: int(v[2]),
		Port: uint16(v[3]), Errno: Errno(v[4]), Hold: -1}
	if v[5] >= 0 {
		a.Hold = time.Duration(v[5]) * time.Microsecond
	}
	return nil
}

// Write writes the observations as JSON, one attempt per line.
func (o *Observations) Write(w io.Writer) error {
	bw := bufio.NewWriter(w)
	field := func(name string, v any, last bool) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("observations: %s: %w", name, err)
		}
		fmt.Fprintf(bw, "  %q: %s", name, b)
		if !last {
			bw.WriteString(",\n")
		}
		return nil
	}
	bw.WriteString("{\n")
	for _, f := range []struct {
		name string
		v    any
	}{{"format", o.Format}, {"kernel", o.Kernel}, {"namespace", o.Namespace}, {"defaults", o.Defaults}} {
		if err := field(f.name, f.v, false); err != nil {
			return err
		}
	}
	bw.WriteString("  \"experiments\": [\n")
	for i, ob := range o.Experiments {
		bw.WriteString("   {")
		if err := field("experiment", ob.Experiment, false); err != nil {
			return err
		}
		if err := field("sysctls", ob.Sysctls, false); err != nil {
			return err
		}
		bw.WriteString("  \"attempts\": [")
		for j, a := range ob.Attempts {
			if j > 0 {
				bw.WriteByte(',')
			}
			ab, _ := a.MarshalJSON()
			bw.WriteString("\n    ")
			bw.Write(ab)
		}
		bw.WriteString("]}")
		if i < len(o.Experiments)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("  ]\n}\n")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("observations: %w", err)
	}
	return nil
}

// WriteFile writes the observations to path.
func (o *Observations) WriteFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("observations: %w", err)
	}
	if err := o.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("observations: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("observations: %w", err)
	}
	return nil
}

// ReadObservations reads observations written by Write and checks them:
// the format version, every experiment, and every attempt against its
// experiment.
func ReadObservations(r io.Reader) (*Observations, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var o Observations
	if err := dec.Decode(&o); err != nil {
		return nil, fmt.Errorf("observations: %w", err)
	}
	if o.Format != FormatVersion {
		return nil, fmt.Errorf("observations: format %d: this portsim reads format %d", o.Format, FormatVersion)
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &o, nil
}

// ReadObservationsFile reads observations from path.
func ReadObservationsFile(path string) (*Observations, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o, err := ReadObservations(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return o, nil
}

// Validate checks that every experiment is valid and every attempt fits
// its experiment: a step with attempts, a destination that exists, times
// that do not go back, a port in the range on success.
func (o *Observations) Validate() error {
	if len(o.Experiments) == 0 {
		return fmt.Errorf("observations: no experiments")
	}
	seen := map[string]bool{}
	for _, ob := range o.Experiments {
		e := ob.Experiment
		if err := e.Validate(); err != nil {
			return fmt.Errorf("observations: %w", err)
		}
		if seen[e.Name] {
			return fmt.Errorf("observations: experiment %s appears twice", e.Name)
		}
		seen[e.Name] = true
		r, _ := e.Sysctls.Range()
		var last time.Duration
		for i, a := range ob.Attempts {
			bad := func(what string) error {
				return fmt.Errorf("observations: experiment %s: attempt %d: %s", e.Name, i, what)
			}
			if a.Step >= len(e.Steps) || e.Steps[a.Step].Op == OpWait {
				return bad(fmt.Sprintf("step %d is not a step with attempts", a.Step))
			}
			if i > 0 && a.Step < ob.Attempts[i-1].Step {
				return bad("steps go back")
			}
			s := e.Steps[a.Step]
			if s.Op.usesDest() != (a.Dst >= 0) || a.Dst >= e.Dest.Count && a.Dst >= 0 {
				return bad(fmt.Sprintf("destination %d does not fit op %s", a.Dst, s.Op))
			}
			if a.At < last {
				return bad("time goes back")
			}
			last = a.At
			if a.OK() != (a.Port != 0) || a.OK() && (!r.Contains(a.Port)) {
				return bad(fmt.Sprintf("port %d with %v", a.Port, a.Errno))
			}
			if a.OK() && (a.Hold < 0) != (s.Hold == Keep) {
				return bad("hold does not match the step's")
			}
		}
	}
	return nil
}

// Lookup returns the observation of the experiment called name.
func (o *Observations) Lookup(name string) (*Observation, bool) {
	for i := range o.Experiments {
		if o.Experiments[i].Experiment.Name == name {
			return &o.Experiments[i], true
		}
	}
	return nil, false
}
