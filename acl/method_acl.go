package acl

import (
	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/losses"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// ACL is Jiang et al.'s ACL (NeurIPS 2020) in its dual-stream form ACL(DS) (spec §4.3;
// VITA-Group ACL train_simCLR.py with --ACL_DS), command-line name "acl":
//
//   - views: two ACLTransform views x⁽¹⁾, x⁽²⁾ (bicubic crop), stacked [x⁽¹⁾; x⁽²⁾];
//   - model: dual BN 'normal'/'pgd' in the backbone AND in the 3-layer projection head
//     (layers.NewACLProjector), images normalised inside the model with the ImageNet
//     statistics (InputNorm "imagenet", as the official model's first layer);
//   - attack: both views attacked jointly as one tensor (uniform start, no clip of the
//     start, Attack.Steps sign steps, project then clip), with the model in EVAL mode
//     through 'pgd' (running statistics, nothing updated), ascending the NT-Xent of the
//     adversarial pair (AttackObjective "plain", the official attack) or the training
//     loss with the IP mixing off and the clean projections fixed ("training");
//   - loss: ½[NT(clean pair via 'normal') + NT(adversarial pair via 'pgd')] (ACLNTXent,
//     one train-mode pass per stream). With the IP/HN/IPHN variants the loss is this
//     project's A-InfoNCE extension AInfoNCEACLDS, which adds the clean/adversarial
//     cross term; the official ACL code has no such variants (spec §4.3: results with
//     them are "ours").
type ACL struct{}

const aclName = "acl"

func init() { RegisterMethod(ACL{}) }

// FinetuneBranch is the BN branch evaluations read: ACL finetunes with --bnNameCnt 1, the 'pgd' BN (train_trades.py, readme).
func (ACL) FinetuneBranch() string { return layers.BranchPGD }

// Name implements Method.
func (ACL) Name() string { return aclName }

// Views implements Method: the two ACLTransform views.
func (ACL) Views(*PretrainConfig) ([]datasets.View, []int) {
	return datasets.ACLViews(), []int{0, 1}
}

// BuildStep implements Method.
func (ACL) BuildStep(ctx *context.Context, in *StepInputs) *StepOutputs {
	embed := func(x *Node, branch string) *Node { return aclEmbed(ctx, in.Encoder, x, branch) }
	return aclDSStep(ctx, in, embed, nil)
}

// aclEmbed runs the encoder and ACL's projection head, both with BN branch branch.
func aclEmbed(ctx *context.Context, enc layers.Encoder, x *Node, branch string) *Node {
	return layers.NewACLProjector(ctx, enc.Features(ctx, x, branch)).Branch(branch).Done()
}

// aclDSStep builds the ACL(DS) step shared by ACL and DynACL: embed maps the stacked
// views [x⁽¹⁾; x⁽²⁾] ([2B,H,W,C]) to projections [2B, D] through a BN branch, and
// advWeight (nil: 1) is DynACL's weight w of the adversarial stream (ACLDSLoss).
func aclDSStep(ctx *context.Context, in *StepInputs, embed func(x *Node, branch string) *Node, advWeight *Node) *StepOutputs {
	cfg := in.Config
	x := Concatenate(in.Views, 0)
	g := x.Graph()
	attackLoss := cfg.Loss
	if attackLoss.Variant.HasHN() {
		attackLoss.Variant = losses.HN
	} else {
		attackLoss.Variant = losses.Base
	}
	var adv *Node
	inMode(ctx, g, false, false, func() {
		var clean *Node
		if cfg.AttackObjective == "training" {
			clean = StopGradient(embed(x, layers.BranchNormal))
		}
		adv = attack.PGD(ctx, []*Node{x}, cfg.Attack, func(a []*Node) *Node {
			zAdv := embed(a[0], layers.BranchPGD)
			if clean == nil {
				return losses.ACLNTXent(zAdv, cfg.Loss.Temperature, cfg.Loss.Quirks)
			}
			loss, _ := losses.ACLDSStreams(clean, zAdv, attackLoss, advWeight)
			if cfg.Loss.Variant != losses.Base {
				// The IP mixing is off for the attack, the cross term kept (symmetric).
				loss = Add(loss, losses.ACLDSCross(clean, zAdv, attackLoss))
			}
			return loss
		})[0]
	})
	// The official step forwards the adversarial pair first, then the clean pair.
	zAdv := embed(adv, layers.BranchPGD)
	zClean := embed(x, layers.BranchNormal)
	loss, terms := losses.AnnealedACLDS(zClean, zAdv, cfg.Loss, advWeight)
	return &StepOutputs{Loss: loss, Metrics: terms}
}
