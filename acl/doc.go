// Package acl is what the notebooks import to walk through "Adversarial Contrastive
// Learning via Asymmetric InfoNCE" (A-InfoNCE, Yu et al., ECCV 2022): the notebook's
// environment (OpenNotebook: its scale, data and run directories, the runs and
// finetunings it trains or reuses) and the paper's studies, each a function of run
// directories:
//
//   - the adversarial views of a trained encoder (Pretrained.InstanceAttack) and the
//     effect of the radius ε (Pretrained.EpsilonStudy, TrajectoryPlot, EpsilonPlot);
//   - inferior positives: how α routes the gradient between clean and adversarial rows
//     (IPShareCurve), and hard negatives: how β and τ⁺ weigh the negatives
//     (HNWeightStudy, HNBetaPlot, HNTauPlot);
//   - the evidence experiment of each scale (Notebook.Experiment: rows × seeds beside the
//     random and supervised baselines, intervals, kNN curves);
//   - the ablation grid of Table 1 (Notebook.AblationRuns, Notebook.AblationTable) and the
//     sensitivity sweeps of α, λ, β and τ⁺ (Notebook.Sensitivity);
//   - their display in GoNB (ShowTable, ShowPNG, ShowPlot: interactive plotly charts with
//     a static PNG).
//
// The toolkit itself is in the packages below this one, each importing only those below
// it (docs/architecture.md has the diagram):
//
//	losses     the A-InfoNCE loss family (RoCL, AdvCL and ACL-DS layouts; IP, HN, IPHN;
//	           adaptive α) and the official code's quirks — the quirk table is the
//	           documentation of acl/losses
//	attack     PGD, TRADES, APGD, APGD-T, FAB-T, Square, AutoAttack and its oracles
//	optim      the optimizers (SGD, the two LARS) and learning-rate schedules
//	rundir     run directories, locks, status, provenance and checkpoints
//	train      the one training loop of pretraining, finetuning and the linear probe
//	knn        encoder features and their weighted kNN accuracy (the pretraining monitor)
//	pretrain   the Method interface, one file per method (RoCL, AdvCL, ACL, DynACL, and the
//	           supervised PGD-AT baseline), presets, and Pretrain
//	finetune   the classifier, SLF/ALF/AFF, the linear probe, and Load: the one way a
//	           run's model is loaded
//	eval       PGD and AutoAttack evaluations of finetunings, and their records
//	report     tables, images, plots, the Table-1 grid and the published reference
//	           numbers
//	benchmark  the standard adversarial contrastive step (RoCL's) timed by acl bench
//	experiment rows × seeds with the baselines, run resumably; the report with intervals
//
// The command line (cmd/acl) is a thin layer over the same packages.
package acl
