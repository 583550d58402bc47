"""`python -m grader audit [--json FILE] [--fast]`: the grader's own audit.

Mutants (grader/audit/mutants.py) must lose points in their own part and only there;
alternative-correct variants (variants.py) must score 40; malicious submissions
(malicious/) run through the Gradescope path as root with the sandbox on and must be
handled (valid results.json, honest score, canary absent, grader alive); the reference and
three mutants graded repeatedly must score identically. No torch import at module level.
"""


def add_audit_arguments(parser):
    parser.add_argument("--json", default=None, metavar="FILE", help="write the report as JSON")
    parser.add_argument("--fast", action="store_true",
                        help="a subset that runs in a few minutes (CI)")
    parser.add_argument("--jobs", type=int, default=2, help="gradings in parallel (default 2)")
    parser.add_argument("--only", default=None, metavar="LIST",
                        help="comma-separated subset of mutants,variants,malicious,"
                             "determinism,theft,seeds; or engine: the mutation engine alone "
                             "(grader/staff/audit/engine/)")
    parser.add_argument("--seeds", type=int, default=0, metavar="N",
                        help="seed sweep: every mutant must lose its part for each of N "
                             "per-submission seeds (full audit: 200)")
    parser.add_argument("--cases", default=None, metavar="LIST",
                        help="comma-separated malicious case names (default: all)")
    parser.add_argument("--match", default=None, metavar="PATTERNS",
                        help="comma-separated name patterns (fnmatch, e.g. 'attn_*,transformer_*')"
                             ": only the mutants and variants they match, in every category "
                             "(engine: mutant ids)")
    parser.add_argument("--match-file", default=None, metavar="FILE",
                        help="engine: mutant ids or patterns, one per line (ids may hold "
                             "commas)")
    parser.add_argument("--shard", default=None, metavar="K/N",
                        help="engine: grade the K-th of N stable shards of the mutants")
    parser.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                        help="engine: merge shard results (--json files) into one report")


def run_audit(args) -> int:
    if args.only == "engine" or args.merge:
        from .engine.run import main as engine
        return engine(args)
    from .runner import main
    return main(args)
