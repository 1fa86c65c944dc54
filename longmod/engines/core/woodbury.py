"""placeholder"""
class SubjectData:
    pass
