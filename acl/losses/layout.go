package losses

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
)

// Layout names how the rows of a features tensor are arranged, and with it which base
// method's loss A-InfoNCE modifies.
type Layout int

const (
	// LayoutRoCL: features [3B, d], raw projector outputs, view-major (aug1, aug2, adv);
	// the loss is RoCLNTXent.
	LayoutRoCL Layout = iota
	// LayoutAdvCL: features [B, V, d], L2-normalised, views (adv, aug1, aug2, HFC); the
	// loss is AdvCLSupCon.
	LayoutAdvCL
	// LayoutACLDS: features [4B, d] = [x¹; x²; a¹; a²] (the clean stream then the
	// adversarial stream, each view-major); the loss is AInfoNCEACLDS (this project's
	// extension; its Base is ACL-DS plus a plain cross term).
	LayoutACLDS
)

// String returns "rocl", "advcl" or "aclds" (the golden files' `layout` field).
func (l Layout) String() string {
	switch l {
	case LayoutRoCL:
		return "rocl"
	case LayoutAdvCL:
		return "advcl"
	case LayoutACLDS:
		return "aclds"
	}
	return fmt.Sprintf("Layout(%d)", int(l))
}

// ParseLayout is the inverse of Layout.String.
func ParseLayout(s string) (Layout, error) {
	for _, l := range []Layout{LayoutRoCL, LayoutAdvCL, LayoutACLDS} {
		if l.String() == s {
			return l, nil
		}
	}
	return 0, fmt.Errorf("losses: unknown layout %q (want rocl, advcl or aclds)", s)
}

// AInfoNCE returns the asymmetric InfoNCE loss of spec §3.2 in the code form of §3.3–§3.5,
// for the given layout:
//
//	L = Σ_r Σ_{p∈P(r)} λ^p · ℓ^{(α,HN)}(r→p)   (normalised as the base method does)
//
// where clean/adversarial pairs are mixed as λ[α·ℓ_sg(c→a) + (1−α)·ℓ_sg(a→c)] under IP
// and ℓ is the HCL-reweighted per-pair loss under HN. It dispatches to RoCLNTXent,
// AdvCLSupCon or AInfoNCEACLDS (see their formulas). It panics if cfg is invalid or the
// features do not fit the layout.
func AInfoNCE(features *Node, layout Layout, cfg Config) *Node {
	terms, _, _ := pairTerms(features, layout, cfg)
	return ReduceAllSum(terms)
}

// pairTerms returns, for any layout, the [R,R] terms matrix whose sum is the loss, the
// mask of the clean/adversarial cross-pair entries and the [R] adversarial-row mask, R
// being the rows of the view-major stacking of the features.
func pairTerms(features *Node, layout Layout, cfg Config) (terms, cross, rowAdv *Node) {
	switch layout {
	case LayoutRoCL:
		t, m := roclTerms(features, cfg)
		return t, m.cross, m.rowAdv
	case LayoutAdvCL:
		t, m := advclTerms(features, cfg)
		return t, m.cross, m.rowAdv
	case LayoutACLDS:
		checkFloat("ACL-DS features", features, 2)
		R := features.Shape().Dimensions[0]
		if R%4 != 0 {
			panic(fmt.Errorf("losses: ACL-DS features must be [4B, d], got %s", features.Shape()))
		}
		clean := Slice(features, AxisRange(0, R/2))
		adv := Slice(features, AxisRange(R/2, R))
		return aclDSTerms(clean, adv, cfg)
	}
	panic(fmt.Errorf("losses: unknown layout %d", int(layout)))
}
