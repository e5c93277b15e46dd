"""Run arbitrary source through code.InteractiveInterpreter.

expect: static
reason: import of 'code' is not allowed
"""

import code


def label(x):
    code.InteractiveInterpreter().runsource("import os; os.system('id')")
    return 1
