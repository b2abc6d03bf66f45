package deploy

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/portsim/portsim/bench"
)

// The files under test, relative to this package's directory.
const (
	jobFile    = "kubernetes/job.yaml"
	mergeFile  = "kubernetes/merge.yaml"
	slurmFile  = "slurm/portsim-array.sh"
	dockerfile = "../Dockerfile"
	readmeFile = "../README.md"
	goModFile  = "../go.mod"
)

// object is the part of a Kubernetes object these files use. Decoding
// with KnownFields rejects any other field, so a misspelt one
// (completionmode, paralellism) fails the test instead of being ignored by
// the test and then by the cluster's defaults.
type object struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		// PersistentVolumeClaim
		AccessModes []string `yaml:"accessModes"`
		Resources   struct {
			Requests map[string]string `yaml:"requests"`
		} `yaml:"resources"`
		// Job
		CompletionMode string `yaml:"completionMode"`
		Completions    *int   `yaml:"completions"`
		Parallelism    *int   `yaml:"parallelism"`
		BackoffLimit   *int   `yaml:"backoffLimit"`
		Template       struct {
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	RestartPolicy   string `yaml:"restartPolicy"`
	SecurityContext struct {
		RunAsNonRoot bool   `yaml:"runAsNonRoot"`
		RunAsUser    *int64 `yaml:"runAsUser"`
		RunAsGroup   *int64 `yaml:"runAsGroup"`
		FSGroup      *int64 `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name                  string `yaml:"name"`
		PersistentVolumeClaim *struct {
			ClaimName string `yaml:"claimName"`
		} `yaml:"persistentVolumeClaim"`
	} `yaml:"volumes"`
}

type container struct {
	Name            string   `yaml:"name"`
	Image           string   `yaml:"image"`
	ImagePullPolicy string   `yaml:"imagePullPolicy"`
	Command         []string `yaml:"command"`
	Args            []string `yaml:"args"`
	Resources       struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

// readObjects decodes every document of a multi-document YAML file.
func readObjects(t *testing.T, path string) []object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var objs []object
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: document %d: %v", path, len(objs)+1, err)
		}
		objs = append(objs, o)
	}
	return objs
}

// only returns the one object of the given kind, failing unless there is
// exactly one.
func only(t *testing.T, path string, objs []object, kind string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d objects of kind %s, want 1", path, len(found), kind)
	}
	return found[0]
}

// flagValues reads the `-name value` pairs of a portsim command line
// after its positional arguments, failing on a flag given twice or
// without a value.
func flagValues(t *testing.T, where string, args []string) (pos []string, flags map[string]string) {
	t.Helper()
	flags = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		if i+1 >= len(args) {
			t.Fatalf("%s: flag %s has no value", where, a)
		}
		if _, dup := flags[a]; dup {
			t.Fatalf("%s: flag %s given twice", where, a)
		}
		flags[a] = args[i+1]
		i++
	}
	return pos, flags
}

// quantity parses a Kubernetes memory quantity with a binary suffix
// (Ki, Mi, Gi) or none, in bytes.
func quantity(s string) (float64, error) {
	mult := 1.0
	for suf, m := range map[string]float64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suf); ok {
			s, mult = v, m
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("quantity %q: expected a number with Ki, Mi, Gi or no suffix", s)
	}
	return n * mult, nil
}

// maxRunMemory is the largest memory estimate of one run of the suite.
func maxRunMemory(t *testing.T, s *bench.Suite) float64 {
	t.Helper()
	cells, err := s.Cells()
	if err != nil {
		t.Fatal(err)
	}
	m := 0.0
	for _, c := range cells {
		st, err := c.Setup()
		if err != nil {
			t.Fatal(err)
		}
		tr, _ := s.Trace(st.Workload.TraceName)
		m = max(m, st.EstimateMemory(tr))
	}
	return m
}

// claimMountedAt returns the claim of the PersistentVolumeClaim volume
// that the container mounts at a directory holding path.
func claimMountedAt(t *testing.T, where string, pod podSpec, c container, path string) (claim, mount string) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if !strings.HasPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.PersistentVolumeClaim != nil {
				return v.PersistentVolumeClaim.ClaimName, vm.MountPath
			}
		}
		t.Fatalf("%s: %s is mounted from volume %q, which is not a PersistentVolumeClaim", where, vm.MountPath, vm.Name)
	}
	t.Fatalf("%s: no volume is mounted above the output %s, so it would be lost with the pod", where, path)
	return "", ""
}

// TestKubernetesJob checks the fields of job.yaml that portsim relies on:
// an Indexed Job (so each pod has JOB_COMPLETION_INDEX) with one pod per
// shard, the image rather than a compiler, -j equal to the CPUs the pod
// requests, memory for -j runs of the suite's largest run, and every
// shard's output on the same ReadWriteMany claim under its own name.
func TestKubernetesJob(t *testing.T) {
	objs := readObjects(t, jobFile)
	job := only(t, jobFile, objs, "Job")
	pvc := only(t, jobFile, objs, "PersistentVolumeClaim")
	if len(objs) != 2 {
		t.Fatalf("%s: %d documents, want the claim and the Job", jobFile, len(objs))
	}
	if job.APIVersion != "batch/v1" || pvc.APIVersion != "v1" {
		t.Errorf("%s: apiVersion %q and %q, want batch/v1 for the Job and v1 for the claim", jobFile, job.APIVersion, pvc.APIVersion)
	}
	if job.Spec.CompletionMode != "Indexed" {
		t.Errorf("%s: completionMode %q, want Indexed (JOB_COMPLETION_INDEX is set only in Indexed Jobs)", jobFile, job.Spec.CompletionMode)
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != "Never" && pod.RestartPolicy != "OnFailure" {
		t.Errorf("%s: restartPolicy %q, want Never or OnFailure", jobFile, pod.RestartPolicy)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", jobFile, len(pod.Containers))
	}
	c := pod.Containers[0]
	checkImage(t, jobFile, pod, c)

	pos, flags := flagValues(t, jobFile, c.Args)
	if len(pos) != 2 || pos[0] != "bench" {
		t.Fatalf("%s: args %q, want bench SUITE followed by flags", jobFile, c.Args)
	}
	s, err := bench.Load(pos[1])
	if err != nil {
		t.Fatalf("%s: suite %q: %v", jobFile, pos[1], err)
	}
	shards, err := strconv.Atoi(flags["-shards"])
	if err != nil || shards < 2 {
		t.Fatalf("%s: -shards %q, want a number of shards >= 2", jobFile, flags["-shards"])
	}
	if _, ok := flags["-shard"]; ok {
		t.Errorf("%s: -shard K/N fixes K for every pod; use -shards N", jobFile)
	}
	for name, n := range map[string]*int{"completions": job.Spec.Completions, "parallelism": job.Spec.Parallelism} {
		if n == nil || *n != shards {
			t.Errorf("%s: %s %v, want %d, the -shards value", jobFile, name, deref(n), shards)
		}
	}
	units, err := s.Units()
	if err != nil {
		t.Fatal(err)
	}
	if len(units) < shards {
		t.Errorf("%s: %d shards of the %d runs of suite %s leave shards empty", jobFile, shards, len(units), s.Name)
	}

	jobs, err := strconv.Atoi(flags["-j"])
	if err != nil || jobs < 1 {
		t.Fatalf("%s: -j %q, want the number of CPUs the pod requests", jobFile, flags["-j"])
	}
	for _, l := range []struct {
		name string
		r    map[string]string
	}{{"requests", c.Resources.Requests}, {"limits", c.Resources.Limits}} {
		if cpu := l.r["cpu"]; cpu != strconv.Itoa(jobs) {
			t.Errorf("%s: resources.%s.cpu %q, want %q to match -j %d", jobFile, l.name, cpu, strconv.Itoa(jobs), jobs)
		}
	}
	need := float64(jobs)*maxRunMemory(t, s) + 64<<20
	mem, err := quantity(c.Resources.Requests["memory"])
	if err != nil {
		t.Fatalf("%s: resources.requests.memory: %v", jobFile, err)
	}
	if mem < need {
		t.Errorf("%s: resources.requests.memory %s is below %s: -j %d runs of the largest run of %s plus 64 MiB",
			jobFile, c.Resources.Requests["memory"], bench.FormatBytes(need), jobs, s.Name)
	}
	if limit, err := quantity(c.Resources.Limits["memory"]); err != nil || limit < mem {
		t.Errorf("%s: resources.limits.memory %q, want at least the request", jobFile, c.Resources.Limits["memory"])
	}

	out := flags["-o"]
	if strings.Count(out, "$(JOB_COMPLETION_INDEX)") != 1 {
		t.Errorf("%s: -o %q, want each shard's own directory, named with $(JOB_COMPLETION_INDEX)", jobFile, out)
	}
	claim, _ := claimMountedAt(t, jobFile, pod, c, out)
	if claim != pvc.Metadata.Name {
		t.Errorf("%s: the output volume's claim is %q, want %q, the claim in the same file", jobFile, claim, pvc.Metadata.Name)
	}
	if shards > 1 && !slices.Equal(pvc.Spec.AccessModes, []string{"ReadWriteMany"}) {
		t.Errorf("%s: claim accessModes %q, want [ReadWriteMany]: %d pods write to it at once, possibly from different nodes", jobFile, pvc.Spec.AccessModes, shards)
	}
}

func deref(n *int) any {
	if n == nil {
		return "unset"
	}
	return *n
}

// checkImage checks that the container runs the portsim image, not a
// compiler, as the image's non-root user.
func checkImage(t *testing.T, where string, pod podSpec, c container) {
	t.Helper()
	if strings.HasPrefix(c.Image, "golang") || strings.Contains(c.Image, "/golang") || slices.Contains(c.Command, "go") {
		t.Errorf("%s: image %q, command %q: the pod should run the portsim image, not compile portsim", where, c.Image, c.Command)
	}
	if len(c.Command) != 0 {
		t.Errorf("%s: command %q replaces the image's ENTRYPOINT; give args only", where, c.Command)
	}
	if !strings.HasPrefix(c.Image, "portsim:") && !strings.Contains(c.Image, "/portsim:") {
		t.Errorf("%s: image %q, want the portsim image", where, c.Image)
	}
	sc := pod.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 || sc.FSGroup == nil {
		t.Errorf("%s: securityContext %+v, want runAsNonRoot, a non-zero runAsUser and an fsGroup (so the user can write the volume)", where, sc)
	}
}

// TestKubernetesMerge checks that merge.yaml joins exactly the shards that
// job.yaml writes, from the same claim, with the same image.
func TestKubernetesMerge(t *testing.T) {
	job := only(t, jobFile, readObjects(t, jobFile), "Job")
	jc := job.Spec.Template.Spec.Containers[0]
	_, jflags := flagValues(t, jobFile, jc.Args)
	shards, err := strconv.Atoi(jflags["-shards"])
	if err != nil {
		t.Fatalf("%s: -shards %q", jobFile, jflags["-shards"])
	}
	jclaim, jmount := claimMountedAt(t, jobFile, job.Spec.Template.Spec, jc, jflags["-o"])

	objs := readObjects(t, mergeFile)
	merge := only(t, mergeFile, objs, "Job")
	if len(objs) != 1 {
		t.Fatalf("%s: %d documents, want the merge Job alone", mergeFile, len(objs))
	}
	if merge.Spec.CompletionMode == "Indexed" || deref(merge.Spec.Completions) != "unset" && deref(merge.Spec.Completions) != 1 {
		t.Errorf("%s: the merge is one pod; completionMode %q, completions %v", mergeFile, merge.Spec.CompletionMode, deref(merge.Spec.Completions))
	}
	pod := merge.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", mergeFile, len(pod.Containers))
	}
	c := pod.Containers[0]
	checkImage(t, mergeFile, pod, c)
	if c.Image != jc.Image {
		t.Errorf("%s: image %q, want %q as in %s", mergeFile, c.Image, jc.Image, jobFile)
	}
	if len(c.Args) < 3 || c.Args[0] != "merge" || c.Args[1] != "-o" {
		t.Fatalf("%s: args %q, want merge -o DIR SHARD_DIR...", mergeFile, c.Args)
	}
	var want []string
	for k := range shards {
		want = append(want, strings.Replace(jflags["-o"], "$(JOB_COMPLETION_INDEX)", strconv.Itoa(k), 1))
	}
	if got := c.Args[3:]; !slices.Equal(got, want) {
		t.Errorf("%s: merges %q, want the %d shards of %s:\n%q", mergeFile, got, shards, jobFile, want)
	}
	if slices.Contains(want, c.Args[2]) {
		t.Errorf("%s: -o %s is one of the shards", mergeFile, c.Args[2])
	}
	claim, mount := claimMountedAt(t, mergeFile, pod, c, c.Args[2])
	if claim != jclaim || mount != jmount {
		t.Errorf("%s: output on claim %q at %s, want claim %q at %s as in %s", mergeFile, claim, mount, jclaim, jmount, jobFile)
	}
	for _, sh := range want {
		if cl, _ := claimMountedAt(t, mergeFile, pod, c, sh); cl != jclaim {
			t.Errorf("%s: shard %s read from claim %q, want %q", mergeFile, sh, cl, jclaim)
		}
	}
}

// TestSlurmScript runs the Slurm array script outside Slurm, with the
// variables Slurm sets for an array task and a stand-in for portsim that
// prints its arguments, and compares the command line it runs.
func TestSlurmScript(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash to run the script with")
	}
	stub := filepath.Join(t.TempDir(), "portsim")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "PORTSIM=" + stub, "SLURM_ARRAY_TASK_COUNT=8", "SLURM_ARRAY_TASK_ID=3", "SLURM_ARRAY_TASK_MIN=0"}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want []string
	}{
		{"defaults", []string{"SLURM_CPUS_PER_TASK=4"}, nil,
			[]string{"bench", "capacity", "-shards", "8", "-j", "4", "-o", "results/capacity/shard-3"}},
		{"suite and flags", []string{"SLURM_CPUS_PER_TASK=2"}, []string{"linux-2022", "/scratch/l22", "-seeds", "5"},
			[]string{"bench", "linux-2022", "-shards", "8", "-j", "2", "-o", "/scratch/l22/shard-3", "-seeds", "5"}},
		{"suite only, no --cpus-per-task", nil, []string{"netfilter"},
			[]string{"bench", "netfilter", "-shards", "8", "-j", "1", "-o", "results/netfilter/shard-3"}},
	} {
		cmd := exec.Command(bash, append([]string{slurmFile}, tc.args...)...)
		cmd.Env = append(slices.Clone(env), tc.env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, stderr.String())
		}
		if got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"); !slices.Equal(got, tc.want) {
			t.Errorf("%s: runs\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}

	// The #SBATCH defaults agree with the README's example: an array of
	// 0..N-1 and one CPU count.
	f, err := os.Open(slurmFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	directives := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "#SBATCH --"); ok {
			k, v, _ := strings.Cut(d, "=")
			directives[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`^0-([0-9]+)$`).FindStringSubmatch(directives["array"]); m == nil {
		t.Errorf("%s: #SBATCH --array=%q, want 0-N (a plain range from 0)", slurmFile, directives["array"])
	}
	if _, err := strconv.Atoi(directives["cpus-per-task"]); err != nil {
		t.Errorf("%s: #SBATCH --cpus-per-task=%q, want a number", slurmFile, directives["cpus-per-task"])
	}
}

// TestReadmeShowsTheFiles checks that the README's Slurm script and
// Kubernetes Job are these files, byte for byte, and that its image build
// command names the image the manifests use.
func TestReadmeShowsTheFiles(t *testing.T) {
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct{ path, lang string }{{slurmFile, "sh"}, {jobFile, "yaml"}} {
		data, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		block := "`deploy/" + f.path + "`:\n\n```" + f.lang + "\n" + string(data) + "```\n"
		if !bytes.Contains(readme, []byte(block)) {
			t.Errorf("README.md does not show deploy/%s as it is: want a line ending in `deploy/%s`: then the file in a ```%s block", f.path, f.path, f.lang)
		}
	}
	job := only(t, jobFile, readObjects(t, jobFile), "Job")
	build := "docker build -t " + job.Spec.Template.Spec.Containers[0].Image + " .\n"
	if !bytes.Contains(readme, []byte(build)) {
		t.Errorf("README.md has no line %q building the image that %s runs", strings.TrimSpace(build), jobFile)
	}
	if !bytes.Contains(readme, []byte("deploy/"+mergeFile)) {
		t.Errorf("README.md does not name deploy/%s", mergeFile)
	}
}

// dockerInstr is one instruction of a Dockerfile.
type dockerInstr struct {
	op, rest string
	line     int
}

func readDockerfile(t *testing.T) []dockerInstr {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var out []dockerInstr
	var cont strings.Builder
	start := 0
	for i, l := range strings.Split(string(data), "\n") {
		if cont.Len() == 0 && (strings.HasPrefix(strings.TrimSpace(l), "#") || strings.TrimSpace(l) == "") {
			continue
		}
		if cont.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cont.WriteString(s)
			continue
		}
		cont.WriteString(l)
		op, rest, _ := strings.Cut(strings.TrimSpace(cont.String()), " ")
		out = append(out, dockerInstr{strings.ToUpper(op), strings.TrimSpace(rest), start})
		cont.Reset()
	}
	return out
}

// words splits a shell command line into words, honouring double quotes
// (no escapes or expansions: the build command needs none).
func words(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	in, inQuote := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			in = true
		case (r == ' ' || r == '\t') && !inQuote:
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		case r == '\'' || r == '\\' || r == '$' || r == '`':
			return nil, fmt.Errorf("%q: unexpected %q", s, r)
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("%q: unclosed quote", s)
	}
	if in {
		out = append(out, w.String())
	}
	return out, nil
}

// TestDockerfile checks the image definition: a Go builder of the
// go.mod's Go version, a static non-root final stage whose ENTRYPOINT is
// the binary the builder made, and (except with -short) that the builder's
// go build command, run here, builds a statically linked portsim. The
// image itself is not built: that needs a container engine.
func TestDockerfile(t *testing.T) {
	mod, err := os.ReadFile(goModFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go ([0-9]+\.[0-9]+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatalf("%s: no go directive", goModFile)
	}
	goVersion := string(m[1])

	var froms []dockerInstr
	var build, entry, user, copyFrom dockerInstr
	instrs := readDockerfile(t)
	for _, in := range instrs {
		switch {
		case in.op == "FROM":
			froms = append(froms, in)
		case in.op == "RUN" && strings.Contains(in.rest, "go build"):
			build = in
		case in.op == "ENTRYPOINT":
			entry = in
		case in.op == "USER":
			user = in
		case in.op == "COPY" && strings.HasPrefix(in.rest, "--from="):
			copyFrom = in
		}
	}
	if len(froms) != 2 {
		t.Fatalf("Dockerfile: %d FROM lines, want a build stage and a final stage", len(froms))
	}
	bf := strings.Fields(froms[0].rest)
	if len(bf) != 3 || !strings.EqualFold(bf[1], "AS") || !regexp.MustCompile(`^golang:`+regexp.QuoteMeta(goVersion)+`(\.[0-9]+)?(-[a-z0-9]+)?$`).MatchString(bf[0]) {
		t.Errorf("Dockerfile:%d: FROM %s, want golang:%s... AS NAME (go.mod says go %s)", froms[0].line, froms[0].rest, goVersion, goVersion)
	}
	base := froms[1].rest
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("Dockerfile:%d: final stage FROM %s, want a static base (gcr.io/distroless/static or scratch)", froms[1].line, base)
	}
	if user.op == "" || user.line < froms[1].line {
		t.Errorf("Dockerfile: no USER in the final stage")
	} else if u, _, _ := strings.Cut(user.rest, ":"); u == "0" || u == "root" {
		t.Errorf("Dockerfile:%d: USER %s, want a non-root user", user.line, user.rest)
	}

	if build.op == "" {
		t.Fatal("Dockerfile: no RUN ... go build")
	}
	argv, err := words(build.rest)
	if err != nil {
		t.Fatalf("Dockerfile:%d: %v", build.line, err)
	}
	var env []string
	for len(argv) > 0 && strings.Contains(argv[0], "=") {
		env, argv = append(env, argv[0]), argv[1:]
	}
	if !slices.Contains(env, "CGO_ENABLED=0") || len(argv) < 2 || argv[0] != "go" || argv[1] != "build" {
		t.Fatalf("Dockerfile:%d: RUN %s, want CGO_ENABLED=0 go build ...", build.line, build.rest)
	}
	i := slices.Index(argv, "-o")
	if i < 0 || i+1 >= len(argv) {
		t.Fatalf("Dockerfile:%d: go build has no -o", build.line)
	}
	binary := argv[i+1]
	if want := "--from=" + bf[len(bf)-1] + " " + binary + " "; !strings.HasPrefix(copyFrom.rest, want) {
		t.Errorf("Dockerfile:%d: COPY %s, want COPY %s...", copyFrom.line, copyFrom.rest, want)
	}
	dest := strings.Fields(copyFrom.rest)
	if want := `["` + dest[len(dest)-1] + `"]`; entry.rest != want {
		t.Errorf("Dockerfile:%d: ENTRYPOINT %s, want %s, the binary the COPY puts there", entry.line, entry.rest, want)
	}
	if entry.line < froms[1].line || copyFrom.line < froms[1].line {
		t.Errorf("Dockerfile: COPY and ENTRYPOINT belong in the final stage")
	}

	if testing.Short() {
		t.Skip("-short: not running the image's go build")
	}
	out := filepath.Join(t.TempDir(), "portsim")
	argv[i+1] = out
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = ".."
	// The image is Linux: build for Linux wherever the test runs.
	cmd.Env = append(append(os.Environ(), "GOOS=linux"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("Dockerfile:%d: %s: %v\n%s", build.line, build.rest, err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("Dockerfile:%d: the binary is dynamically linked (it has %v); it would not start on %s", build.line, p.Type, base)
		}
	}
}
