// Types of build/compile-node.js (plain JavaScript: the entry points load it before anything is compiled).
export declare const ENTRY_POINTS: Record<'coordinator' | 'worker' | 'submit', string>;
export declare const MANIFEST: string;
export declare function compileNode(): Promise<void>;
export declare function isFresh(): Promise<boolean>;
export declare function runCompiled(name: keyof typeof ENTRY_POINTS): Promise<void>;
