package bench

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/portsim/portsim/allocator"
)

// Build checks a suite made in Go, as ParseWith checks a suite file, and
// returns it ready to run: its Data holds the suite in the suite file
// format (the text kept with the results as suite.yaml, whose hash
// identifies the suite), the File it is named by in errors is s.File (or
// "suite"), and its names resolve against reg. Only the exported fields
// of the value count; Line fields are ignored.
func Build(reg allocator.Set, s Suite) (*Suite, error) {
	data, err := s.encode()
	if err != nil {
		return nil, fmt.Errorf("suite %q: %w", s.Name, err)
	}
	file := s.File
	if file == "" {
		file = "suite"
	}
	return ParseWith(reg, data, file, s.Dir)
}

// encode writes the suite in the suite file format, keys in the order
// the format documents; a setting with one value is a scalar, a sweep a
// flow list.
func (s *Suite) encode() ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	put := func(m *yaml.Node, key string, v *yaml.Node) {
		m.Content = append(m.Content, scalar(key), v)
	}
	put(root, "name", scalar(s.Name))
	if s.Description != "" {
		put(root, "description", scalar(s.Description))
	}
	put(root, "seed", plain(strconv.FormatUint(s.Seed, 10)))
	put(root, "seeds", plain(strconv.Itoa(s.Seeds)))
	putValues(root, s.Defaults)
	if len(s.Allocators) > 0 {
		put(root, "allocators", allocNodes(s.Allocators))
	}
	if len(s.Charts) > 0 {
		put(root, "charts", flow(s.Charts))
	}
	scs := &yaml.Node{Kind: yaml.SequenceNode}
	for _, sc := range s.Scenarios {
		m := &yaml.Node{Kind: yaml.MappingNode}
		put(m, "name", scalar(sc.Name))
		if sc.Description != "" {
			put(m, "description", scalar(sc.Description))
		}
		if len(sc.Allocators) > 0 {
			put(m, "allocators", allocNodes(sc.Allocators))
		}
		if len(sc.Charts) > 0 {
			put(m, "charts", flow(sc.Charts))
		}
		if sc.X != "" {
			put(m, "x", scalar(sc.X))
		}
		if len(sc.ChartAt) > 0 {
			put(m, "chart-at", mapNode(sc.ChartAt))
		}
		put(m, "events", plain(strconv.FormatBool(sc.Events)))
		if len(sc.Metrics) > 0 {
			put(m, "metrics", flow(sc.Metrics))
		}
		if len(sc.Published) > 0 {
			put(m, "published", publishedNodes(sc.Published))
		}
		putValues(m, sc.Settings)
		scs.Content = append(scs.Content, m)
	}
	put(root, "scenarios", scs)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// putValues adds settings to mapping m: one value as a scalar, a sweep as
// a flow list.
func putValues(m *yaml.Node, vals []Value) {
	for _, v := range vals {
		node := flow(v.Values)
		if len(v.Values) == 1 {
			node = scalar(v.Values[0])
		}
		m.Content = append(m.Content, scalar(v.Key), node)
	}
}

func allocNodes(refs []AllocRef) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, a := range refs {
		m := &yaml.Node{Kind: yaml.MappingNode}
		m.Content = append(m.Content, scalar("name"), scalar(a.Name))
		if len(a.Params) > 0 {
			m.Content = append(m.Content, scalar("params"), mapNode(a.Params))
		}
		seq.Content = append(seq.Content, m)
	}
	return seq
}

func publishedNodes(ps []Published) *yaml.Node {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, p := range ps {
		m := &yaml.Node{Kind: yaml.MappingNode}
		add := func(k, v string) {
			if v != "" {
				m.Content = append(m.Content, scalar(k), scalar(v))
			}
		}
		add("what", p.What)
		add("source", p.Source)
		add("metric", p.Metric)
		add("allocator", p.Allocator)
		if len(p.Params) > 0 {
			m.Content = append(m.Content, scalar("params"), mapNode(p.Params))
		}
		if len(p.Labels) > 0 {
			m.Content = append(m.Content, scalar("labels"), mapNode(p.Labels))
		}
		m.Content = append(m.Content,
			scalar("value"), plain(strconv.FormatFloat(p.Value, 'g', -1, 64)),
			scalar("tolerance"), plain(strconv.FormatFloat(p.Tolerance, 'g', -1, 64)))
		add("cmd", p.Cmd)
		seq.Content = append(seq.Content, m)
	}
	return seq
}

// mapNode is a block mapping of m in key order.
func mapNode(m map[string]string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		n.Content = append(n.Content, scalar(k), scalar(m[k]))
	}
	return n
}

// flow is a flow-style list of plain (or, where needed, quoted) scalars.
func flow(vals []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, v := range vals {
		n.Content = append(n.Content, scalar(v))
	}
	return n
}

// scalar is a string scalar, quoted where YAML would read it as another
// type ("100", "true"), as yaml.Marshal quotes a Go string.
func scalar(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

// plain is a scalar written as is: a number or a boolean.
func plain(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: v}
}
