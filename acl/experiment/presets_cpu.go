package experiment

import (
	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/datasets"
)

// cpuAblation is the CPU-scale ablation (PresetCPUAblation): ResNet-18 width 16, batch
// 64, the official attacks (RoCL PGD-7, AdvCL PGD-5, PGD-AT PGD-7), 3,000 images for 3
// epochs (140 steps), SLF on 5,000 images, PGD-20 on 2,000 test images, AutoAttack on 300.
// The sizes come from the quickstart's measured cost on the project's 2-core machine
// (93 RoCL-IP steps of batch 64 and a 5-epoch SLF in 3.5 min) so that the 18 pieces finish
// in about two hours beside other work (docs/results/cpu-ablation/README.md has the
// measured wall and CPU time of every row).
func cpuAblation() Plan {
	p := Plan{Name: PresetCPUAblation, Title: "A-InfoNCE ablation at CPU scale: RoCL and AdvCL × {base, IP}, 3 seeds",
		Purpose: "Does adversarial contrastive pretraining learn at a scale two CPU cores finish in about two hours, and do the inferior-positive (IP) variants change robust accuracy there? " +
			"Every row is measured alike beside the two baselines that frame it: the encoder as initialised and a supervised adversarially trained (PGD-AT) encoder of the same size and budget. " +
			"This is far below the paper's scale (ResNet-18 width 64, 50,000 images, 400–1000 epochs): the numbers say what happens here, not what the paper reports.",
		Rows: ablationRows(), Seeds: []uint64{1, 2, 3}, Dataset: datasets.CIFAR10,
		Scale: pretrain.Scale{Encoder: "resnet18", Width: 16, Subset: 3000, Epochs: 3, BatchSize: 64, LogEvery: 10, KNN: pretrain.DefaultKNN(1, 1000)},
		Eval:  slf(10, 256, 5000, 2000, 250)}
	p.Eval.AutoAttack, p.Eval.AutoAttackImages, p.Eval.AutoAttackSeeds = attack.AutoAttackStandardPreset, 300, 1
	return p
}

// cpuAblationDryRun is cpuAblation's every piece at toy size (PresetCPUAblationDryRun):
// the same rows, seeds, encoder kind, protocol and attacks, with a width-4 encoder, 128
// images, 2 epochs and 1-step pretraining attacks.
func cpuAblationDryRun() Plan {
	p := cpuAblation()
	p.Name, p.Title = PresetCPUAblationDryRun, "Dry run of the CPU-scale ablation (toy size)"
	p.Purpose = "Every piece of the CPU-scale ablation at toy size, so that the full run cannot fail late. Its numbers mean nothing."
	p.Scale = pretrain.Scale{Encoder: "resnet18", Width: 4, Subset: 128, Epochs: 2, BatchSize: 32, LogEvery: 2, KNN: pretrain.DefaultKNN(1, 100)}
	p.AttackSteps = 1
	p.Eval = slf(1, 64, 256, 100, 100)
	p.Eval.AutoAttack, p.Eval.AutoAttackImages, p.Eval.AutoAttackSeeds = attack.AutoAttackStandardPreset, 16, 1
	return p
}
