package losses

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
)

// AnnealedACLDS assembles the loss of the ACL(DS) family from the clean and adversarial
// projections ([2B, d] each, view-major) and returns it with its named terms:
//
//	L = ACLDSStreams(clean, adv, w) + C,   C = ACLDSCross(clean, adv) for IP/HN/IPHN, 0 for Base
//
// with w = advWeight the weight of the adversarial stream (nil: w = 1, ACL(DS); DynACL
// anneals it, spec §10). At w = 1, L equals ACLDSNTXent (Base) or AInfoNCEACLDS (the
// variants). Terms: "clean", "adv" (the two NTs) and, with a variant, "cross".
func AnnealedACLDS(clean, adv *Node, cfg Config, advWeight *Node) (*Node, map[string]*Node) {
	loss, terms := ACLDSStreams(clean, adv, cfg, advWeight)
	if cfg.Variant != Base {
		cross := ACLDSCross(clean, adv, cfg)
		terms["cross"] = cross
		loss = Add(loss, cross)
	}
	return loss, terms
}

// ACLDSStreams returns ½[(2 − w)·NT(clean) + w·NT(adv)], NT being ACLNTXent at
// cfg.Temperature with cfg.Quirks and w = advWeight (nil: w = 1, which gives ACLDSNTXent:
// VITA-Group ACL train_simCLR.py --ACL_DS; DynACL's train_DynACL.py weighs the streams so),
// with the terms "clean" and "adv" (the two NTs).
func ACLDSStreams(clean, adv *Node, cfg Config, advWeight *Node) (*Node, map[string]*Node) {
	cfg.mustValidate()
	t := cfg.Temperature
	ntClean := ACLNTXent(clean, t, cfg.Quirks)
	ntAdv := ACLNTXent(adv, t, cfg.Quirks)
	terms := map[string]*Node{"clean": ntClean, "adv": ntAdv}
	var streams *Node
	if advWeight == nil {
		streams = Add(ntClean, ntAdv)
	} else {
		w := ConvertDType(advWeight, ntClean.DType())
		streams = Add(Mul(Sub(Scalar(w.Graph(), w.DType(), 2), w), ntClean), Mul(w, ntAdv))
	}
	return MulScalar(streams, 0.5), terms
}

// ACLDSCross returns ¼(X¹ + X²), the clean/adversarial cross term of AInfoNCEACLDS (this
// project's extension, spec §4.3; see AInfoNCEACLDS for X^v): the part of AInfoNCEACLDS
// beyond the two streams, with IP/HN/IPHN applied as cfg.Variant says (Base: the
// symmetric full-gradient pair).
func ACLDSCross(clean, adv *Node, cfg Config) *Node {
	cfg.mustValidate()
	B := clean.Shape().Dimensions[0] / 2
	var sum *Node
	for v := range 2 {
		xv := Slice(clean, AxisRange(v*B, (v+1)*B))
		av := Slice(adv, AxisRange(v*B, (v+1)*B))
		X := ReduceAllSum(aclCrossTerms(Concatenate([]*Node{xv, av}, 0), cfg))
		if sum == nil {
			sum = X
		} else {
			sum = Add(sum, X)
		}
	}
	return MulScalar(sum, 0.25)
}
