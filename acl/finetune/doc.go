// Package finetune is what comes after pretraining: Load, the one function that loads a
// run's model (its encoder built from config.json and restored strictly from the
// checkpoint it chooses: the pretraining's newest, or the one a finetuning selected); the
// Classifier (encoder + linear head) and its oracle for AutoAttack; the three finetuning
// protocols of Table 1 (SLF, ALF, AFF; spec §5.1) run by Finetune on the training loop of
// acl/train with the epoch selected on a validation split; the PGD evaluator they select
// and report with; and the linear probe (RoCL's linear evaluation, spec §5.2).
package finetune
