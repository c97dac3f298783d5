package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/ainfonce/goacl/acl/finetune"
)

// RobustSSLProvenance says where RobustSSLReference's numbers come from and how they were
// measured (spec §7.2). They are third-party numbers, not the paper's (whose tables could
// not be retrieved, spec §7.1).
const RobustSSLProvenance = "RobustSSL leaderboard (RobustSSL/RobustSSL.github.io, leaderboard/*.js), as transcribed in spec §7.2: " +
	"ResNet-18 checkpoints pretrained by the RobustSSL authors (which A-InfoNCE variant, IP, HN or IPHN, is unconfirmed); " +
	"vanilla finetuning of RobustSSL_Benchmark (25 epochs, LR decay at 15 and 20; SLF/ALF lr 0.01 batch 512, AFF lr 0.1 batch 128, ALF with PGD, AFF with TRADES); " +
	"RA = AutoAttack standard, L∞, ε = 8/255; SA = clean accuracy; CA = mean CIFAR-10-C / CIFAR-100-C accuracy over severities 1–5. " +
	"Third-party numbers, not the paper's."

// ReferenceResult is one cell group of the RobustSSL leaderboard: a method pretrained on
// one data set, finetuned on another with one mode, and its RA, CA and SA in % (NaN where
// the leaderboard has none).
type ReferenceResult struct {
	// Method is the leaderboard's method name, Pretrain and Downstream the pretraining and
	// finetuning data sets, Mode the finetuning mode; RA, CA and SA the robust (AutoAttack),
	// clean and standard accuracies in %.
	Method     string        `json:"method"`
	Pretrain   string        `json:"pretrain"`
	Downstream string        `json:"downstream"`
	Mode       finetune.Mode `json:"mode"`
	RA         float64       `json:"ra"`
	CA         float64       `json:"ca"`
	SA         float64       `json:"sa"`
}

// robustSSLMethods is the leaderboard's column order.
var robustSSLMethods = []string{"A-InfoNCE", "AdvCL", "ACL", "RoCL", "DeACL", "DynACL", "DynACL++"}

// robustSSLRows holds spec §7.2's table: per (pretrain, downstream, mode), one RA/CA/SA
// triple per method in robustSSLMethods order; nil for a "–" cell, NaN for a "–" value.
var robustSSLRows = []struct {
	pretrain, downstream string
	mode                 finetune.Mode
	cells                [][3]float64
}{
	{"cifar10", "cifar10", finetune.SLF, cells3(42.72, 74.09, 83.70, 43.18, 73.14, 82.36, 39.17, 70.72, 78.22, 26.12, refNaN, 77.90, 43.27, 73.06, 79.94, 45.09, 68.67, 75.41, 46.54, 71.96, 79.82)},
	{"cifar10", "cifar10", finetune.ALF, cells3(43.28, 71.61, 80.30, 44.05, 71.50, 80.04, 40.60, 68.56, 75.53, 29.69, refNaN, 75.62, 41.99, 71.66, 77.71, 45.67, 66.69, 72.97, 47.98, 70.89, 78.81)},
	{"cifar10", "cifar10", finetune.AFF, cells3(49.73, 73.80, 82.99, 49.61, 73.91, 83.00, 49.60, 72.50, 81.25, 45.02, refNaN, 78.51, 44.96, 69.29, 78.29, 50.52, 72.81, 81.86, 50.34, 73.07, 81.93)},
	{"cifar100", "cifar100", finetune.SLF, cells3(20.41, 41.43, 50.06, 19.10, 36.90, 44.60, 17.30, 38.59, 45.82, 8.72, refNaN, 42.93, refNaN, refNaN, refNaN, 19.30, 38.96, 45.83, 20.07, 43.46, 52.16)},
	{"cifar100", "cifar100", finetune.ALF, cells3(19.53, 43.58, 44.78, 18.19, 33.07, 39.85, 19.07, 36.78, 43.49, refNaN, refNaN, refNaN, refNaN, refNaN, refNaN, 20.69, 37.44, 43.58, 22.24, 37.84, 49.92)},
	{"cifar100", "cifar100", finetune.AFF, cells3(25.11, 47.35, 58.08, 25.26, 47.54, 58.29, 24.78, 47.00, 57.74, refNaN, refNaN, refNaN, refNaN, refNaN, refNaN, 24.88, 46.77, 57.43, 25.21, 46.74, 57.30)},
	{"cifar10", "stl10", finetune.SLF, cells3(27.18, refNaN, 65.75, 28.38, refNaN, 62.78, 27.52, refNaN, 56.50, refNaN, refNaN, refNaN, 11.04, refNaN, 38.49, 29.17, refNaN, 52.41, refNaN, refNaN, refNaN)},
	{"cifar10", "stl10", finetune.ALF, cells3(27.24, refNaN, 51.81, 27.88, refNaN, 58.73, 28.16, refNaN, 60.86, refNaN, refNaN, refNaN, 12.70, refNaN, 39.41, 29.59, refNaN, 49.55, refNaN, refNaN, refNaN)},
	{"cifar10", "stl10", finetune.AFF, cells3(33.50, refNaN, 67.99, 33.84, refNaN, 68.14, 32.66, refNaN, 61.41, refNaN, refNaN, refNaN, 24.66, refNaN, 48.01, 35.25, refNaN, 63.53, refNaN, refNaN, refNaN)},
	{"cifar100", "stl10", finetune.SLF, cells3(18.22, refNaN, 51.14, 18.06, refNaN, 49.80, 21.91, refNaN, 47.59, refNaN, refNaN, refNaN, refNaN, refNaN, refNaN, 23.17, refNaN, 47.54, refNaN, refNaN, refNaN)},
	{"cifar100", "stl10", finetune.ALF, cells3(20.40, refNaN, 47.40, 19.60, refNaN, 44.54, 24.40, refNaN, 45.24, refNaN, refNaN, refNaN, refNaN, refNaN, refNaN, 26.24, refNaN, 45.70, refNaN, refNaN, refNaN)},
	{"cifar100", "stl10", finetune.AFF, cells3(31.10, refNaN, 60.88, 30.50, refNaN, 61.24, 28.76, refNaN, 56.23, refNaN, refNaN, refNaN, refNaN, refNaN, refNaN, 31.17, refNaN, 58.35, refNaN, refNaN, refNaN)},
}

// refNaN marks a value the leaderboard does not report.
var refNaN = math.NaN()

// cells3 groups 21 numbers into seven RA/CA/SA triples.
func cells3(v ...float64) [][3]float64 {
	out := make([][3]float64, 0, len(v)/3)
	for i := 0; i+2 < len(v); i += 3 {
		out = append(out, [3]float64{v[i], v[i+1], v[i+2]})
	}
	return out
}

// RobustSSLReference returns every number of spec §7.2's RobustSSL table (methods with no
// number at all for a setting are left out).
func RobustSSLReference() []ReferenceResult {
	var out []ReferenceResult
	for _, r := range robustSSLRows {
		for i, c := range r.cells {
			if math.IsNaN(c[0]) && math.IsNaN(c[1]) && math.IsNaN(c[2]) {
				continue
			}
			out = append(out, ReferenceResult{Method: robustSSLMethods[i], Pretrain: r.pretrain, Downstream: r.downstream,
				Mode: r.mode, RA: c[0], CA: c[1], SA: c[2]})
		}
	}
	return out
}

// ReferenceHTML renders the RobustSSL numbers of a pretrain→downstream setting for the
// given methods (all when none), one row per method with SA and RA per mode, and the
// provenance under the table.
func ReferenceHTML(pretrain, downstream string, methods ...string) *HTMLTable {
	cols := []string{"method"}
	for _, m := range finetune.Modes {
		cols = append(cols, fmt.Sprintf("%s SA", strings.ToUpper(string(m))), fmt.Sprintf("%s RA (AutoAttack)", strings.ToUpper(string(m))))
	}
	t := NewHTMLTable("reference-robustssl-"+pretrain+"-"+downstream, fmt.Sprintf("Reference: RobustSSL leaderboard, %s → %s", datasetLabel(pretrain), datasetLabel(downstream)), cols...)
	want := map[string]bool{}
	for _, m := range methods {
		want[m] = true
	}
	byMethod := map[string]map[finetune.Mode]ReferenceResult{}
	for _, r := range RobustSSLReference() {
		if r.Pretrain != pretrain || r.Downstream != downstream || (len(want) > 0 && !want[r.Method]) {
			continue
		}
		if byMethod[r.Method] == nil {
			byMethod[r.Method] = map[finetune.Mode]ReferenceResult{}
		}
		byMethod[r.Method][r.Mode] = r
	}
	for _, m := range robustSSLMethods {
		res, ok := byMethod[m]
		if !ok {
			continue
		}
		row := []HTMLCell{HTMLText(m)}
		for _, mode := range finetune.Modes {
			r, ok := res[mode]
			if !ok {
				r = ReferenceResult{SA: refNaN, RA: refNaN}
			}
			row = append(row, HTMLPercent(r.SA/100), HTMLPercent(r.RA/100))
		}
		_ = t.AddRow(row...)
	}
	t.AddNote("Source and protocol: " + RobustSSLProvenance)
	return t
}

// datasetLabel is a data set's display name.
func datasetLabel(name string) string {
	switch name {
	case "cifar10":
		return "CIFAR-10"
	case "cifar100":
		return "CIFAR-100"
	case "stl10":
		return "STL-10"
	}
	return name
}
