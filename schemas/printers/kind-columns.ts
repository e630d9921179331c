/** What a kind's table columns are, and the NAME and AGE cells every kind prints. */
import { age } from './age';
import { arr, at, type Loose, str } from './fields';

export interface KindColumns {
  headers: string[];
  row(obj: Loose, now: number): string[];
  wideHeaders?: string[];
  wideRow?(obj: Loose): string[];
}

export const created = (obj: Loose, now: number) => age(at(obj, 'metadata.creationTimestamp'), now);
export const name = (obj: Loose) => str(obj, 'metadata.name');

/** CONTAINERS and IMAGES of `-o wide`: the template's containers' names and images. */
export const containerImages = (obj: Loose, path: string) => [
  arr(obj, path)
    .map((c) => str(c, 'name'))
    .join(','),
  arr(obj, path)
    .map((c) => str(c, 'image'))
    .join(','),
];
