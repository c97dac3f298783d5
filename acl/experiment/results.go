package experiment

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
)

// Results are an experiment as its run directories record it: what Collect reads and
// the report shows. Nothing in it is typed by hand.
type Results struct {
	// Plan is the runs folder's plan, Runs the folder.
	Plan Plan   `json:"plan"`
	Runs string `json:"runs"`
	// Rows are the plan's rows, in order, with their seeds' measurements and summaries.
	Rows []RowResult `json:"rows"`
	// Comparisons are each variant against its method's base row, paired by seed.
	Comparisons []Comparison `json:"comparisons"`
	// Invocations and Legs are the runs folder's command lines and ledger.
	Invocations []Invocation `json:"invocations"`
	Legs        []Leg        `json:"legs"`
}

// SeedResult is one row's run at one seed.
type SeedResult struct {
	// Seed and RunDir locate the run; State is its pretraining's status ("" when it has
	// not started) and Reason why it failed.
	Seed   uint64 `json:"seed"`
	RunDir string `json:"run_dir"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Finetunes are the finished finetunings by mode; AutoAttack the AutoAttack record of
	// the SLF classifier (nil when not run).
	Finetunes  map[finetune.Mode]*finetune.Result `json:"finetunes"`
	AutoAttack *eval.Record                       `json:"autoattack,omitempty"`
	// KNN is the kNN monitor's curve.
	KNN []pretrain.KNNPoint `json:"knn"`
	// Times are the ledger's wall and CPU seconds by piece ("pretrain", "finetune-slf",
	// "autoattack-slf").
	Times map[string]PieceTime `json:"times"`
}

// PieceTime is the time of one piece of one run, summed over its legs.
type PieceTime struct {
	// Wall and CPU are seconds; Legs the number of legs recorded.
	Wall float64 `json:"wall_seconds"`
	CPU  float64 `json:"cpu_seconds"`
	Legs int     `json:"legs"`
}

// RowResult is one row: its seeds and their summaries.
type RowResult struct {
	// Row is the plan's row and Seeds its runs in the plan's seed order.
	Row   Row          `json:"row"`
	Seeds []SeedResult `json:"seeds"`
	// Clean and Robust summarise the finetunings' test SA and PGD RA by mode; KNN the
	// final kNN accuracy; AutoAttack the AutoAttack robust accuracy of the seeds attacked.
	Clean      map[finetune.Mode]Summary `json:"clean"`
	Robust     map[finetune.Mode]Summary `json:"robust"`
	KNN        Summary                   `json:"knn"`
	AutoAttack Summary                   `json:"autoattack"`
	// Times summarise each piece's wall and CPU seconds over the seeds that ran it.
	Wall map[string]Summary `json:"wall_seconds"`
	CPU  map[string]Summary `json:"cpu_seconds"`
}

// Comparison is one row against another, paired by seed: Row minus Against.
type Comparison struct {
	// Row and Against name the rows; Kind is "variant" (a variant against its method's
	// base) or "baseline" (a pretraining against a baseline).
	Row     string `json:"row"`
	Against string `json:"against"`
	Kind    string `json:"kind"`
	// Mode is the finetuning compared; Clean, Robust and KNN the paired differences
	// (fractions); AgainstSD the seed spread (SD) of Against's robust accuracy.
	Mode      finetune.Mode `json:"mode"`
	Clean     Summary       `json:"clean"`
	Robust    Summary       `json:"robust"`
	KNN       Summary       `json:"knn"`
	AgainstSD float64       `json:"-"`
}

// MarshalJSON writes the comparison with AgainstSD as "against_robust_sd" (null when
// unknown).
func (c Comparison) MarshalJSON() ([]byte, error) {
	type plain Comparison
	return json.Marshal(struct {
		plain
		AgainstSD *float64 `json:"against_robust_sd"`
	}{plain(c), nullable(c.AgainstSD)})
}

// PieceKey names a piece in SeedResult.Times: "pretrain", or "<piece>-<mode>".
func PieceKey(piece string, mode finetune.Mode) string {
	if mode == "" {
		return piece
	}
	return piece + "-" + string(mode)
}

// Collect reads the experiment in the runs folder runs: its plan, every row's run
// directories (status, finetuning results, AutoAttack records, kNN curves), the ledger and
// the invocations, and summarises them. Missing pieces are missing values, not errors:
// a report can be made while the experiment runs.
func Collect(runs string) (*Results, error) {
	res := &Results{Runs: runs}
	if err := readJSON(filepath.Join(runs, PlanFile), &res.Plan); err != nil {
		return nil, fmt.Errorf("%s is not an experiment's runs folder: %w", runs, err)
	}
	if err := readJSONLines(filepath.Join(runs, LedgerFile), &res.Legs); err != nil {
		return nil, err
	}
	if err := readJSONLines(filepath.Join(runs, InvocationsFile), &res.Invocations); err != nil {
		return nil, err
	}
	aaName := ""
	if res.Plan.Eval.AutoAttack != "" {
		aaName, _ = attack.AutoAttackName(res.Plan.Eval.AutoAttack)
	}
	for _, row := range res.Plan.Rows {
		rr := RowResult{Row: row}
		for _, seed := range res.Plan.Seeds {
			sr, err := collectSeed(runs, row, seed, aaName, res.Legs)
			if err != nil {
				return nil, err
			}
			rr.Seeds = append(rr.Seeds, *sr)
		}
		rr.summarize(res.Plan.Eval.Modes)
		res.Rows = append(res.Rows, rr)
	}
	res.compare()
	return res, nil
}

// collectSeed reads one run directory.
func collectSeed(runs string, row Row, seed uint64, aaName string, legs []Leg) (*SeedResult, error) {
	dir := RunDir(runs, row, seed)
	sr := &SeedResult{Seed: seed, RunDir: dir, Finetunes: map[finetune.Mode]*finetune.Result{}, Times: map[string]PieceTime{}}
	for _, l := range legs {
		if l.Row == row.Name && l.Seed == seed {
			k := PieceKey(l.Piece, l.Mode)
			t := sr.Times[k]
			t.Wall += l.Wall
			t.CPU += l.CPU
			t.Legs++
			sr.Times[k] = t
		}
	}
	var st rundir.Status
	switch err := readJSON(filepath.Join(dir, rundir.StatusFile), &st); {
	case errors.Is(err, fs.ErrNotExist):
		return sr, nil
	case err != nil:
		return nil, err
	}
	sr.State, sr.Reason = st.State, st.Reason
	var err error
	if sr.KNN, err = pretrain.KNNCurve(dir); err != nil {
		return nil, err
	}
	for _, mode := range finetune.Modes {
		ft, err := readFinetune(dir, mode)
		if err != nil {
			return nil, err
		}
		if ft != nil {
			sr.Finetunes[mode] = ft
		}
	}
	if aaName != "" {
		rec, ok, err := eval.Read(dir, finetune.SLF, aaName)
		if err != nil {
			return nil, err
		}
		if ft := sr.Finetunes[finetune.SLF]; ok && ft != nil && rec.Checkpoint == ft.Checkpoint {
			sr.AutoAttack = rec
		}
	}
	return sr, nil
}

// summarize fills a row's summaries from its seeds.
func (rr *RowResult) summarize(modes []finetune.Mode) {
	rr.Clean, rr.Robust = map[finetune.Mode]Summary{}, map[finetune.Mode]Summary{}
	for _, mode := range modes {
		rr.Clean[mode] = Summarize(rr.values(func(s *SeedResult) float64 { return finetuneValue(s, mode, false) }))
		rr.Robust[mode] = Summarize(rr.values(func(s *SeedResult) float64 { return finetuneValue(s, mode, true) }))
	}
	rr.KNN = Summarize(rr.values(finalKNN))
	rr.AutoAttack = Summarize(rr.values(func(s *SeedResult) float64 {
		if s.AutoAttack == nil {
			return math.NaN()
		}
		return s.AutoAttack.Accuracy.Robust
	}))
	rr.Wall, rr.CPU = map[string]Summary{}, map[string]Summary{}
	keys := map[string]bool{}
	for _, s := range rr.Seeds {
		for k := range s.Times {
			keys[k] = true
		}
	}
	for k := range keys {
		rr.Wall[k] = Summarize(rr.values(func(s *SeedResult) float64 { return timeOf(s, k, false) }))
		rr.CPU[k] = Summarize(rr.values(func(s *SeedResult) float64 { return timeOf(s, k, true) }))
	}
}

// values maps f over the row's seeds.
func (rr *RowResult) values(f func(*SeedResult) float64) []float64 {
	out := make([]float64, len(rr.Seeds))
	for i := range rr.Seeds {
		out[i] = f(&rr.Seeds[i])
	}
	return out
}

// finetuneValue is a seed's test RA (robust) or SA of mode; NaN when not measured.
func finetuneValue(s *SeedResult, mode finetune.Mode, robust bool) float64 {
	ft := s.Finetunes[mode]
	if ft == nil {
		return math.NaN()
	}
	if robust {
		return ft.Test.Robust
	}
	return ft.Test.Clean
}

// finalKNN is a seed's last kNN accuracy; NaN without one.
func finalKNN(s *SeedResult) float64 {
	if len(s.KNN) == 0 {
		return math.NaN()
	}
	return s.KNN[len(s.KNN)-1].Accuracy
}

// timeOf is a seed's wall or CPU seconds of piece k; NaN when the ledger has none.
func timeOf(s *SeedResult, k string, cpu bool) float64 {
	t, ok := s.Times[k]
	if !ok {
		return math.NaN()
	}
	if cpu {
		return t.CPU
	}
	return t.Wall
}

// compare fills the comparisons: each variant row against its method's base row, and
// each pretraining against each baseline, paired by seed, for every mode.
func (res *Results) compare() {
	byName := map[string]*RowResult{}
	for i := range res.Rows {
		byName[res.Rows[i].Row.Name] = &res.Rows[i]
	}
	pair := func(a, b *RowResult, kind string) {
		for _, mode := range res.Plan.Eval.Modes {
			c := Comparison{Row: b.Row.Name, Against: a.Row.Name, Kind: kind, Mode: mode,
				Clean:     Paired(a.values(func(s *SeedResult) float64 { return finetuneValue(s, mode, false) }), b.values(func(s *SeedResult) float64 { return finetuneValue(s, mode, false) })),
				Robust:    Paired(a.values(func(s *SeedResult) float64 { return finetuneValue(s, mode, true) }), b.values(func(s *SeedResult) float64 { return finetuneValue(s, mode, true) })),
				KNN:       Paired(a.values(finalKNN), b.values(finalKNN)),
				AgainstSD: a.Robust[mode].SD}
			res.Comparisons = append(res.Comparisons, c)
		}
	}
	for i := range res.Rows {
		r := &res.Rows[i]
		if r.Row.Baseline != "" {
			continue
		}
		if base := byName[r.Row.Method+"-base"]; base != nil && base != r && base.Row.Baseline == "" {
			pair(base, r, "variant")
		}
	}
	for i := range res.Rows {
		r := &res.Rows[i]
		if r.Row.Baseline != "" {
			continue
		}
		for j := range res.Rows {
			if b := &res.Rows[j]; b.Row.Baseline != "" {
				pair(b, r, "baseline")
			}
		}
	}
}

// readJSONLines reads a JSON-lines file into *out (a pointer to a slice); a missing file
// is empty.
func readJSONLines[T any](file string, out *[]T) error {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var v T
		if json.Unmarshal(sc.Bytes(), &v) == nil { // a line torn by a kill is passed over
			*out = append(*out, v)
		}
	}
	return sc.Err()
}
