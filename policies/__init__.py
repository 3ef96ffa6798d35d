"""The platform's CrossGuard policy pack: security rules for both stacks.

`pulumi preview --policy-pack policies` serves them to the engine (policies/__main__.py);
`invoke policy --env <stack>` judges the same rules offline against the program under Pulumi's
mocks (policies/check.py). Importing this package or its rules starts nothing.
"""
