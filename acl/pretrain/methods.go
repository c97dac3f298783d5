package pretrain

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/field"
)

// methods are the registered methods by name. Adding a method: its file, its test and a
// line here.
var methods = register(
	RoCL{},
	AdvCL{},
	ACL{},
	DynACL{},
	Supervised{},
)

func register(ms ...Method) map[string]Method {
	byName := map[string]Method{}
	for _, m := range ms {
		if _, dup := byName[m.Name()]; dup {
			panic("pretrain: method registered twice: " + m.Name())
		}
		byName[m.Name()] = m
	}
	return byName
}

// MethodNames lists the registered methods, sorted.
func MethodNames() []string {
	names := make([]string, 0, len(methods))
	for n := range methods {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// MethodByName returns the registered method called name; an unknown name is a
// *field.Error of the key "method".
func MethodByName(name string) (Method, error) {
	m, ok := methods[name]
	if !ok {
		return nil, field.Errorf("method", "{method}: unknown method %q: use one of %s", name, strings.Join(MethodNames(), ", "))
	}
	return m, nil
}

// FinetuneLR is the official finetuning learning rate of a pretraining run (spec §4.4):
// its method's, for linear (SLF, ALF; full = false) or full (AFF) finetuning, with its
// source. A run of a method this build does not know gets the AdvCL protocol's 0.1.
func FinetuneLR(cfg *Config, full bool) (float64, string) {
	m, err := MethodByName(cfg.Method)
	if err != nil {
		return 0.1, fmt.Sprintf("no official %s setting; AdvCL protocol default 0.1", cfg.Method)
	}
	ev := m.Evaluation(cfg)
	if full {
		return ev.FullLR.Value, ev.FullLR.Source
	}
	return ev.LinearLR.Value, ev.LinearLR.Source
}

// defaultFinetuneLR is the finetuning rate of a method without an official one.
func defaultFinetuneLR(method string) LR {
	return LR{0.1, fmt.Sprintf("no official %s setting; AdvCL protocol default 0.1", method)}
}
