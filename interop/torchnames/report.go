package torchnames

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Report says what a conversion did besides the tensors it returned.
type Report struct {
	// Mapped counts the tensors converted (num_batches_tracked and normalize buffers
	// included).
	Mapped int
	// OtherBranches (ToTorch) lists goacl BN variables of branches the layout does not
	// hold, left out on purpose (e.g. AdvCL's 'normal' and 'pgd_ce' when the 'pgd'
	// branch is exported).
	OtherBranches []string
	// Outside (ToTorch) counts goacl variables outside the model's scopes (projection
	// heads, optimizer state, the global step), which the layout does not cover.
	Outside int
	// StrippedPrefix (FromTorch) is "module." when every name carried the prefix of
	// torch.nn.DataParallel or DistributedDataParallel and it was removed.
	StrippedPrefix string
	// Ignored (FromTorch) lists the names Layout.Ignore dropped.
	Ignored []string
	// BatchesTracked (FromTorch) is the largest num_batches_tracked read, −1 when the
	// state dict has none.
	BatchesTracked int64
	// Converted (FromTorch) lists tensors whose dtype changed, as "name (Float64)".
	Converted []string
}

// MismatchError is a conversion refused because the input does not fit the layout. It
// lists every offending name at once.
type MismatchError struct {
	// Layout describes the layout (Layout.String).
	Layout string
	// Direction is "goacl → PyTorch" or "PyTorch → goacl".
	Direction string
	// Missing are names the layout needs that the input lacks, Unexpected input names
	// the layout does not know, Misshapen "name: have …, want …" for wrong shapes or
	// dtypes and wrong normalisation values.
	Missing, Unexpected, Misshapen []string
	// Hint suggests a fix, when one is recognisable.
	Hint string
}

// Error lists the mismatches.
func (e *MismatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: the tensors do not fit %s:", e.Direction, e.Layout)
	list := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		shown := names
		if len(shown) > 40 {
			shown = append(slices.Clone(shown[:40]), fmt.Sprintf("… %d more", len(names)-40))
		}
		fmt.Fprintf(&b, " %d %s [%s];", len(names), what, strings.Join(shown, ", "))
	}
	list("missing", e.Missing)
	list("unexpected", e.Unexpected)
	list("with another shape, dtype or value", e.Misshapen)
	s := strings.TrimSuffix(b.String(), ";")
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *MismatchError) empty() bool {
	return len(e.Missing) == 0 && len(e.Unexpected) == 0 && len(e.Misshapen) == 0
}

func (e *MismatchError) sort() {
	sort.Strings(e.Missing)
	sort.Strings(e.Unexpected)
	sort.Strings(e.Misshapen)
}
