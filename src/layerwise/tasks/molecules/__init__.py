"""molecular-property: drug discovery from SMILES"""
