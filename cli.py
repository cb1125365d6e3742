"""What the two command lines share: the options that name a config and so its run home.

    -c/--config YAML [--profile NAME] [-o key.path=value ...]

main.py runs the config with them; analysis_v1.py plots the run that main.py made with the same ones.
Standard library only, so that `--help` answers at once.
"""


def add_config_options(parser, required=True):
    """Add -c/--config, --profile and -o/--override to an argparse parser."""
    parser.add_argument("-c", "--config", required=required, help="experiment YAML or <exp>/<config>")
    parser.add_argument("--profile", help="a profile of the YAML, e.g. quick")
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                        help="override any entry, e.g. -o config.pc.T=64 (repeatable)")
