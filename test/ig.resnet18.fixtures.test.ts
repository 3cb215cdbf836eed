import { igFixtureSuite } from './ig.fixtures.js';

igFixtureSuite('resnet18_c3');
