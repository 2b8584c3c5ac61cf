"""Print how many zoo mutants the diagnosis catalogue names, for the README table.

python scripts/diagnosis_rate.py
"""

from conv2d.gate.diagnosis import hit_rate

if __name__ == "__main__":
    hits, total, missed = hit_rate()
    print(f"| diagnosis | {hits} of {total} mutants named ({hits / total:.0%}) |")
    for line in missed:
        print(f"  not named: {line}")
