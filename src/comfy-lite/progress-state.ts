/** Per-node progress of the running prompt, sent as `progress_state` (newer ComfyUI servers send it on every change). */

type NodeState = { value: number; max: number; state: 'running' | 'finished' };

export class ProgressState {
  private readonly nodes = new Map<string, NodeState>();

  constructor(
    private readonly promptId: string,
    private readonly send: (data: unknown) => void,
  ) {}

  private set(id: string, state: NodeState): void {
    this.nodes.set(id, state);
    const nodes: Record<string, unknown> = {};
    for (const [n, s] of this.nodes) {
      nodes[n] = {
        ...s,
        node_id: n,
        prompt_id: this.promptId,
        display_node_id: n,
        parent_node_id: null,
        real_node_id: n,
      };
    }
    this.send({ prompt_id: this.promptId, nodes });
  }

  start(id: string): void {
    this.set(id, { value: 0, max: 1, state: 'running' });
  }

  update(id: string, value: number, max: number): void {
    this.set(id, { value, max, state: 'running' });
  }

  finish(id: string): void {
    const max = this.nodes.get(id)?.max ?? 1;
    this.set(id, { value: max, max, state: 'finished' });
  }
}
