package report

import (
	"fmt"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/eval"
)

// AttackComparisonTable compares, on the same finetuned classifier and test images, the
// clean accuracy, PGD-20's robust accuracy, and AutoAttack's after each of its attacks.
func AttackComparisonTable(pgd *eval.Record, aa *attack.AutoAttackResult) *HTMLTable {
	t := NewHTMLTable("pgd-vs-autoattack", fmt.Sprintf("PGD-20 vs AutoAttack (%s) on %s, %s finetuning, %d test images",
		aa.Preset, filepath.Base(pgd.Run), pgd.Mode, pgd.Accuracy.Images),
		"evaluation", "accuracy", "images attacked", "images fooled", "seconds")
	_ = t.AddRow(HTMLText("clean"), HTMLPercent(pgd.Accuracy.Clean), HTMLText("–"), HTMLText("–"), HTMLText("–"))
	_ = t.AddRow(HTMLText("PGD-20"), HTMLPercent(pgd.Accuracy.Robust), HTMLNumber(float64(pgd.Accuracy.CleanCorrect), "%.0f"),
		HTMLNumber(float64(pgd.Accuracy.CleanCorrect-pgd.Accuracy.RobustCorrect), "%.0f"), HTMLNumber(pgd.Seconds, "%.1f"))
	for _, r := range aa.Attacks {
		_ = t.AddRow(HTMLText("AutoAttack after "+r.Name), HTMLPercent(r.RobustAccuracy), HTMLNumber(float64(r.Attacked), "%.0f"),
			HTMLNumber(float64(r.Fooled), "%.0f"), HTMLNumber(r.Seconds, "%.1f"))
	}
	_ = t.AddRow(HTMLText("AutoAttack"), HTMLPercent(aa.RobustAccuracy), HTMLText("–"), HTMLText("–"), HTMLText("–"))
	t.AddNote(fmt.Sprintf("PGD-20: %s. AutoAttack: %s version, L∞ ε = %.4f, each attack on the images still robust; "+
		"largest perturbation found %.4f.", pgd.AttackLabel, aa.Preset, aa.Epsilon, aa.MaxPerturbation))
	return t
}
