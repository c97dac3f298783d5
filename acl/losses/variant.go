package losses

import "fmt"

// Variant selects which A-InfoNCE ingredients a loss uses (spec §3.3–§3.5): the base
// contrastive loss, inferior positives (IP), hard negatives (HN) or both (IPHN).
type Variant int

const (
	// Base is the method's own loss with no A-InfoNCE ingredient: RoCL NT-Xent (spec §3.1),
	// AdvCL SupCon as produced by Asym-AdvCL (§3.1, including the block overwrite in the
	// official mode), or ACL-DS's two-stream NT-Xent (§4.3).
	Base Variant = iota
	// IP treats the adversarial view as an inferior positive: the clean/adversarial pair
	// loss becomes λ·[α·ℓ_sg(clean→adv) + (1−α)·ℓ_sg(adv→clean)] (spec §3.3, `--stop_grad`).
	IP
	// HN reweights the negatives HCL-style with concentration β and positive-unlabeled
	// prior τ⁺ (spec §3.4).
	HN
	// IPHN feeds the HN per-pair losses through the IP mixing (spec §3.5).
	IPHN
)

// String returns the short name used by the golden files ("base", "ip", "hn", "iphn").
func (v Variant) String() string {
	switch v {
	case Base:
		return "base"
	case IP:
		return "ip"
	case HN:
		return "hn"
	case IPHN:
		return "iphn"
	}
	return fmt.Sprintf("Variant(%d)", int(v))
}

// ParseVariant is the inverse of Variant.String (case-sensitive: "base", "ip", "hn", "iphn").
func ParseVariant(s string) (Variant, error) {
	for _, v := range []Variant{Base, IP, HN, IPHN} {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown variant %q (want base, ip, hn or iphn)", s)
}

// HasIP reports whether the variant uses the inferior-positive mixing (IP or IPHN).
func (v Variant) HasIP() bool { return v == IP || v == IPHN }

// HasHN reports whether the variant uses hard-negative reweighting (HN or IPHN).
func (v Variant) HasHN() bool { return v == HN || v == IPHN }
