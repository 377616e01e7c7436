// Undo/redo of label-map diffs with a memory budget: the oldest steps are dropped first.

export const DEFAULT_BUDGET = 64 * 1024 * 1024;

export class History {
  constructor(labelMap, budget = DEFAULT_BUDGET) {
    this.labelMap = labelMap;
    this.budget = budget;
    this.undoStack = [];
    this.redoStack = [];
    this.bytes = 0;
    this.dropped = 0;
  }

  /** Records a finished edit (ignored when it changed nothing); clears the redo stack. */
  push(diff) {
    if (!diff || diff.n === 0) return false;
    diff.seal();
    for (const old of this.redoStack) this.bytes -= old.bytes;
    this.redoStack = [];
    this.undoStack.push(diff);
    this.bytes += diff.bytes;
    while (this.bytes > this.budget && this.undoStack.length > 1) {
      this.bytes -= this.undoStack.shift().bytes;
      this.dropped++;
    }
    if (this.bytes > this.budget) {
      // A single edit larger than the whole budget cannot be undone.
      this.bytes -= this.undoStack.pop().bytes;
      this.dropped++;
    }
    return true;
  }

  /** Reverts the last edit; returns its diff (for redrawing its box) or null. */
  undo() {
    const diff = this.undoStack.pop();
    if (!diff) return null;
    this.labelMap.apply(diff, false);
    this.redoStack.push(diff);
    return diff;
  }

  /** Re-applies the last undone edit; returns its diff or null. */
  redo() {
    const diff = this.redoStack.pop();
    if (!diff) return null;
    this.labelMap.apply(diff, true);
    this.undoStack.push(diff);
    return diff;
  }

  clear() {
    this.undoStack = [];
    this.redoStack = [];
    this.bytes = 0;
  }

  get canUndo() {
    return this.undoStack.length > 0;
  }

  get canRedo() {
    return this.redoStack.length > 0;
  }
}
