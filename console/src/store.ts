// A tiny observable value for state several views share (the wallet), and a hook to read it.
import { useEffect, useState } from 'preact/hooks';

export class Store<T> {
  private subs = new Set<(v: T) => void>();
  constructor(private value: T) {}
  get(): T {
    return this.value;
  }
  set(v: T): void {
    this.value = v;
    for (const s of this.subs) s(v);
  }
  subscribe(f: (v: T) => void): () => void {
    this.subs.add(f);
    return () => this.subs.delete(f);
  }
}

export function useStore<T>(s: Store<T>): T {
  const [v, setV] = useState(s.get());
  useEffect(() => s.subscribe(setV), [s]);
  return v;
}
