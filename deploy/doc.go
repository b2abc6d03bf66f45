// Package deploy holds the files that run portsim on a cluster — the
// Kubernetes manifests in deploy/kubernetes, the Slurm array script in
// deploy/slurm, and (at the repository root) the Dockerfile of the
// container image — and, as its tests, the checks that keep those files
// consistent with portsim's flags and with the README. It has no code of
// its own.
package deploy
