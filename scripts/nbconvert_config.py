# nbconvert_config.py: nbconvert configuration for scripts/run-notebooks.mjs (passed as --config).
#
# nbconvert's ExecutePreprocessor takes a cell's execution count only from the kernel's iopub
# messages (execute_input, execute_result). The tslab kernel sends neither: it gives the count in its
# execute_reply alone, so every executed cell kept "execution_count": null and the HTML showed
# "In [ ]:". This hook sets the kernel's own count from the reply (a cell that fails has one too),
# replacing any count the notebook was saved with.
# on_cell_executed is nbclient's hook (nbclient >= 0.6), called with the cell before it is stored.


def _count_from_reply(cell, cell_index, execute_reply, **_):
    count = (execute_reply or {}).get('content', {}).get('execution_count')
    if isinstance(count, int):
        cell['execution_count'] = count


c.ExecutePreprocessor.on_cell_executed = _count_from_reply  # noqa: F821 (c is the config nbconvert loads this file with)
