"""Refuse answers that would generate a project that cannot import or build.

Runs before any file is written; on a bad answer it says which one and why, and exits
non-zero so that cookiecutter removes the half-made project directory.
esframework.scaffold applies the same rules before it calls cookiecutter.
"""

import keyword
import sys

PROJECT_NAME = {{ cookiecutter.project_name | tojson }}
PACKAGE_NAME = {{ cookiecutter.package_name | tojson }}
AGGREGATE_NAME = {{ cookiecutter.aggregate_name | tojson }}

# Names the generated code imports or runs next to; a package or class of that name
# would shadow them.
TAKEN_PACKAGES = {"esframework", "tests", "test", "pytest", "hypothesis"}
TAKEN_CLASSES = {"UUID"}
STDLIB = getattr(sys, "stdlib_module_names", ())


def problems():
    found = []
    if not PROJECT_NAME.strip() or any(c in PROJECT_NAME for c in '"\\') or any(
        not c.isprintable() for c in PROJECT_NAME
    ):
        found.append(
            f"project_name {PROJECT_NAME!r} must be a non-empty line of text without "
            "quotes or backslashes (e.g. 'My Ledger')"
        )
    if not (PACKAGE_NAME.isascii() and PACKAGE_NAME.isidentifier()):
        found.append(
            f"package_name {PACKAGE_NAME!r} is not a Python package name: use letters, "
            "digits and underscores, not starting with a digit (e.g. 'my_ledger')"
        )
    elif keyword.iskeyword(PACKAGE_NAME):
        found.append(
            f"package_name {PACKAGE_NAME!r} is a Python keyword and cannot be imported: "
            "choose another name (e.g. 'my_ledger')"
        )
    elif PACKAGE_NAME in TAKEN_PACKAGES or PACKAGE_NAME in STDLIB:
        found.append(
            f"package_name {PACKAGE_NAME!r} would shadow the module of that name: "
            "choose another name (e.g. 'my_ledger')"
        )
    if not (
        AGGREGATE_NAME.isascii()
        and AGGREGATE_NAME.isidentifier()
        and AGGREGATE_NAME[0].isupper()
        and not keyword.iskeyword(AGGREGATE_NAME)
    ):
        found.append(
            f"aggregate_name {AGGREGATE_NAME!r} is not a class name: use letters and digits "
            "in CapWords, starting with a capital letter (e.g. 'Account')"
        )
    elif AGGREGATE_NAME in TAKEN_CLASSES:
        found.append(
            f"aggregate_name {AGGREGATE_NAME!r} would shadow a name the domain module "
            "imports: choose another name"
        )
    return found


if __name__ == "__main__":
    found = problems()
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    if found:
        print("No project was generated.", file=sys.stderr)
        sys.exit(1)
